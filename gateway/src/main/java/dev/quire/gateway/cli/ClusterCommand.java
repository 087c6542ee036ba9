package dev.quire.gateway.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.Callable;

/** {@code quire cluster}: looks at a running cluster through one of its gateways. */
@Command(name = "cluster", mixinStandardHelpOptions = true, description = "Inspect a running cluster.",
        subcommands = {ClusterCommand.Status.class, CommandLine.HelpCommand.class})
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
            spec.commandLine().getOut().println(resp.body());
            return 0;
        }
    }
}
