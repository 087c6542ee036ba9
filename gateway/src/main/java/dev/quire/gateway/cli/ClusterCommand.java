package dev.quire.gateway.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quire.proto.internal.v1.DrainRequest;
import dev.quire.proto.internal.v1.DrainResponse;
import dev.quire.proto.internal.v1.WorkerGrpcClient;
import dev.quire.scheduler.cluster.ClusterSecret;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/** {@code quire cluster}: looks at a running cluster through one of its gateways, and drains workers. */
@Command(name = "cluster", mixinStandardHelpOptions = true, description = "Inspect a running cluster; drain a worker.",
        subcommands = {ClusterCommand.Status.class, ClusterCommand.Drain.class, CommandLine.HelpCommand.class})
public final class ClusterCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** {@code quire cluster status}: prints the gateway's {@code GET /cluster} JSON. */
    @Command(name = "status", mixinStandardHelpOptions = true,
            description = "Print the cluster's live view (gateways, workers, their state and load) as JSON.")
    static final class Status implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Option(names = "--gateway", defaultValue = "http://localhost:8000", paramLabel = "URL",
                description = "A gateway's HTTP address (default: ${DEFAULT-VALUE}).")
        String gateway;

        @Option(names = "--api-key", paramLabel = "KEY", description = "API key, when the cluster requires one.")
        String apiKey;

        @Override
        public Integer call() throws Exception {
            spec.commandLine().getOut().println(fetchCluster(gateway, apiKey));
            return 0;
        }
    }

    /** The gateway's {@code GET /cluster} JSON text. */
    static String fetchCluster(String gateway, String apiKey) throws InterruptedException {
        HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(gateway.replaceAll("/+$", "") + "/cluster"))
                .timeout(Duration.ofSeconds(10)).GET();
        if (apiKey != null) {
            req.header("authorization", "Bearer " + apiKey);
        }
        HttpResponse<String> resp;
        try {
            resp = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()
                    .send(req.build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot reach the gateway at " + gateway + ": " + e.getMessage());
        }
        if (resp.statusCode() != 200) {
            throw new IllegalStateException("the gateway answered HTTP " + resp.statusCode() + ": " + resp.body());
        }
        return resp.body();
    }

    /**
     * {@code quire cluster drain WORKER}: asks one worker to drain, as SIGTERM on its host would. The
     * call goes straight to the worker's data plane with a proof of the cluster secret (only
     * operators hold it); the gateway only names the worker's address.
     */
    @Command(name = "drain", mixinStandardHelpOptions = true,
            description = {"Drain a worker: it takes no new requests at once, finishes its requests in flight "
                    + "(or, with --mode migrate, hands them to other workers, which continue each from the tokens "
                    + "already sent), then leaves the cluster and exits. Needs the cluster secret.",
                    "Waits until the worker has left the cluster (--wait)."})
    static final class Drain implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @CommandLine.Parameters(paramLabel = "WORKER",
                description = "The worker's id or data-plane address, as `quire cluster status` lists them.")
        String worker;

        @Option(names = "--mode", defaultValue = "finish", paramLabel = "MODE",
                description = "finish or migrate (default: ${DEFAULT-VALUE}).")
        Mode mode;

        @Option(names = "--gateway", defaultValue = "http://localhost:8000", paramLabel = "URL",
                description = "A gateway's HTTP address, to find the worker (default: ${DEFAULT-VALUE}).")
        String gateway;

        @Option(names = "--api-key", paramLabel = "KEY", description = "API key, when the cluster requires one.")
        String apiKey;

        @Option(names = "--wait", defaultValue = "120s", paramLabel = "DURATION", converter = DurationConverter.class,
                description = "How long to wait for the worker to leave the cluster; 0s: do not wait "
                        + "(default: ${DEFAULT-VALUE}).")
        Duration waitFor;

        @CommandLine.Mixin
        ClusterSecretOptions secret = new ClusterSecretOptions();

        enum Mode { finish, migrate }

        @Override
        public Integer call() throws Exception {
            var proofs = secret.secret();
            JsonNode target = find(worker);
            if (target == null) {
                throw new IllegalArgumentException("no worker '" + worker + "' in the cluster (see quire cluster status)");
            }
            String id = target.get("id").asText();
            String address = target.get("address").asText();
            int colon = address.lastIndexOf(':');
            Vertx vertx = Vertx.vertx();
            try {
                GrpcClient client = GrpcClient.client(vertx);
                DrainResponse reply = client.request(SocketAddress.inetSocketAddress(
                                Integer.parseInt(address.substring(colon + 1)), address.substring(0, colon)),
                                WorkerGrpcClient.Drain)
                        .compose(req -> {
                            req.headers().set(ClusterSecret.AUTH_HEADER, proofs.gatewayProof(address));
                            return req.send(DrainRequest.newBuilder().setMigrate(mode == Mode.migrate).build())
                                    .compose(resp -> resp.last().recover(e -> Future.failedFuture(
                                            new IllegalStateException("the worker refused: " + resp.status() + " "
                                                    + resp.statusMessage()))));
                        })
                        .await(30, TimeUnit.SECONDS);
                spec.commandLine().getOut().printf("Draining worker %s at %s (%s): %d generations in flight%n", id,
                        address, mode, reply.getInFlight());
            } finally {
                vertx.close();
            }
            if (waitFor.isZero()) {
                return 0;
            }
            long start = System.nanoTime();
            long deadline = start + waitFor.toNanos();
            while (System.nanoTime() < deadline) {
                if (find(id) == null) {
                    spec.commandLine().getOut().printf("Worker %s left the cluster after %.1f s%n", id,
                            (System.nanoTime() - start) / 1e9);
                    return 0;
                }
                Thread.sleep(100);
            }
            spec.commandLine().getErr().printf("Worker %s is still in the cluster after %s%n", id, waitFor);
            return 1;
        }

        private JsonNode find(String idOrAddress) throws Exception {
            JsonNode cluster = new ObjectMapper().readTree(fetchCluster(gateway, apiKey));
            for (JsonNode w : cluster.get("workers")) {
                if (w.get("id").asText().equals(idOrAddress) || w.get("address").asText().equals(idOrAddress)) {
                    return w;
                }
            }
            return null;
        }
    }
}
