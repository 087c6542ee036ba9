package dev.quire.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.command.InspectContainerResponse;
import dev.quire.proto.v1.FinishReason;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.Container;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.output.OutputFrame;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.lifecycle.Startables;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The images as users run them: a gateway and two workers (the demo image, bundled model) on one
 * Docker network, reached only through their published ports, as in deploy/compose.yaml.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ContainerClusterIT {
    static final String SECRET = "container-it-secret-" + System.nanoTime();
    static final int STREAMS = 24;
    static final int TOKENS = 256;
    /** docker stop's grace period for a worker: longer than its --drain-timeout (30s by default). */
    static final int STOP_GRACE_SECONDS = 40;

    final List<GenericContainer<?>> containers = new ArrayList<>();
    Network network;
    GenericContainer<?> gateway;
    List<GenericContainer<?>> workers = new ArrayList<>();
    GatewayClient client;
    String http;
    List<GatewayClient.Output> reference;

    @BeforeAll
    void startCluster() throws Exception {
        Images.build();
        network = Network.newNetwork();
        gateway = track(new GenericContainer<>(Images.GATEWAY), "gateway")
                .withNetworkAliases("gateway")
                .withEnv("QUIRE_CLUSTER_SECRET", SECRET)
                .withExposedPorts(8000, 50051);
        gateway.start();
        workers.add(worker("worker-a"));
        workers.add(worker("worker-b"));
        Startables.deepStart(workers).join(); // both at once
        http = "http://" + gateway.getHost() + ":" + gateway.getMappedPort(8000);
        client = new GatewayClient(gateway.getHost(), gateway.getMappedPort(50051));
        GatewayClient.await("2 ready workers in GET /cluster", 120, () -> readyWorkers() == 2);
        GatewayClient.await("the gateway ready (a worker's model described)", 60, () -> {
            try {
                return GatewayClient.get(http + "/ready").statusCode() == 200;
            } catch (Exception e) {
                return false;
            }
        });
    }

    /** A worker container of the demo image; started, it is healthy (its image's HEALTHCHECK: /ready). */
    GenericContainer<?> worker(String name) {
        return track(new GenericContainer<>(Images.DEMO), name)
                .withEnv("QUIRE_CLUSTER_SECRET", SECRET)
                .withCommand("worker", "--join", "gateway:5701", "--kv-cache-bytes", "64m")
                .withExposedPorts(8000);
    }

    GenericContainer<?> startWorker(String name) {
        GenericContainer<?> worker = worker(name);
        worker.start();
        return worker;
    }

    GenericContainer<?> track(GenericContainer<?> container, String name) {
        // As the Kubernetes manifests run them: the root file system read-only, /tmp a scratch volume.
        container.withNetwork(network)
                .withCreateContainerCmdModifier(cmd -> {
                    cmd.withName("quire-it-" + name + "-" + ProcessHandle.current().pid());
                    cmd.getHostConfig().withReadonlyRootfs(true).withTmpFs(Map.of("/tmp", "rw,exec,size=256m"));
                })
                .waitingFor(Wait.forHealthcheck().withStartupTimeout(Duration.ofMinutes(4)))
                .withLogConsumer(frame -> log(name, frame));
        containers.add(container);
        return container;
    }

    static void log(String name, OutputFrame frame) {
        try {
            Files.createDirectories(Images.LOGS);
            Files.writeString(Images.LOGS.resolve(name + ".log"), frame.getUtf8String(), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterAll
    void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        for (GenericContainer<?> c : containers) {
            c.stop();
        }
        if (network != null) {
            network.close();
        }
    }

    long readyWorkers() {
        try {
            long n = 0;
            for (JsonNode w : GatewayClient.getJson(http + "/cluster").get("workers")) {
                n += w.get("state").asText().equals("ready") ? 1 : 0;
            }
            return n;
        } catch (Exception e) {
            return -1;
        }
    }

    /** The worker container whose data-plane address GET /cluster shows running at least {@code n} streams. */
    GenericContainer<?> workerRunning(int n) throws Exception {
        for (JsonNode w : GatewayClient.getJson(http + "/cluster").get("workers")) {
            if (w.get("running").asInt() >= n) {
                String ip = w.get("address").asText().replaceFirst(":\\d+$", "");
                for (GenericContainer<?> c : workers) {
                    if (c.isRunning() && ip(c).equals(ip)) {
                        return c;
                    }
                }
            }
        }
        return null;
    }

    /**
     * Waits until every one of the {@code STREAMS} streams started after {@code firstTokensBefore}
     * (the gateway's time-to-first-token count then) has its first token, and returns a worker
     * running at least 4 of them: killing it then interrupts streams mid-generation.
     */
    GenericContainer<?> workerMidStream(double firstTokensBefore) throws InterruptedException {
        GenericContainer<?>[] found = new GenericContainer<?>[1];
        GatewayClient.await("every stream generating and a worker running several", 90, () -> {
            try {
                found[0] = GatewayClient.scrape(http + "/metrics", "quire_time_to_first_token_seconds_count")
                        - firstTokensBefore >= STREAMS ? workerRunning(4) : null;
                return found[0] != null;
            } catch (Exception e) {
                return false;
            }
        });
        return found[0];
    }

    static String ip(GenericContainer<?> c) {
        return c.getContainerInfo().getNetworkSettings().getNetworks().values().iterator().next().getIpAddress();
    }

    static DockerClient docker() {
        return DockerClientFactory.instance().client();
    }

    @Test
    @Order(1)
    void readyMetricsAndTheClusterViewAnswerFromOutsideTheContainers() throws Exception {
        assertThat(GatewayClient.get(http + "/ready").statusCode()).isEqualTo(200);
        assertThat(GatewayClient.get(http + "/health").statusCode()).isEqualTo(200);
        JsonNode cluster = GatewayClient.getJson(http + "/cluster");
        assertThat(cluster.get("gateways")).hasSize(1);
        assertThat(cluster.get("workers")).hasSize(2);
        for (JsonNode w : cluster.get("workers")) {
            // Each worker advertises its address on the containers' network (--cluster-interface).
            assertThat(w.get("address").asText()).matches("\\d+\\.\\d+\\.\\d+\\.\\d+:7000");
            assertThat(w.get("models").toString()).contains("stories260K");
        }
        client.greedy("Once upon a time", 8);
        assertThat(GatewayClient.get(http + "/metrics").body()).contains("quire_placements_total{",
                "quire_time_to_first_token_seconds_bucket{");
        for (GenericContainer<?> w : workers) {
            String ops = "http://" + w.getHost() + ":" + w.getMappedPort(8000);
            assertThat(GatewayClient.get(ops + "/ready").statusCode()).isEqualTo(200);
            assertThat(GatewayClient.get(ops + "/metrics").body()).contains("quire_kv_cache_usage_perc",
                    "quire_num_requests_running");
        }
    }

    @Test
    @Order(2)
    void containersRunAsNonRootAndTheGatewayImageCarriesNoPyTorch() throws Exception {
        for (String image : List.of(Images.GATEWAY, Images.WORKER, Images.DEMO)) {
            assertThat(docker().inspectImageCmd(image).exec().getConfig().getUser()).as(image).isEqualTo("10001:10001");
        }
        for (GenericContainer<?> c : containers) {
            Container.ExecResult uid = c.execInContainer("bash", "-c", "awk '/^Uid:/{print $2, $3}' /proc/1/status");
            assertThat(uid.getStdout().trim()).as("the JVM's real and effective uid in %s", c.getDockerImageName())
                    .isEqualTo("10001 10001");
        }
        // The gateway JVM's class path, expanded as the JVM does.
        String classpath = exec(gateway, "tr '\\0' '\\n' </proc/1/cmdline | sed -n '/^-cp$/{n;p}'");
        List<String> jars = new ArrayList<>();
        for (String entry : classpath.split(":")) {
            jars.addAll(entry.endsWith("/*") ? exec(gateway, "ls " + entry.substring(0, entry.length() - 2)).lines().toList()
                    : List.of(entry.substring(entry.lastIndexOf('/') + 1)));
        }
        assertThat(jars).as("the gateway's runtime class path").anyMatch(j -> j.startsWith("quire-gateway"))
                .noneMatch(j -> j.startsWith("api-0.") || j.startsWith("pytorch") || j.startsWith("tokenizers")
                        || j.contains("djl") || j.startsWith("quire-worker") || j.startsWith("quire-server"));
        String find = "find / -xdev \\( -name '*torch*' -o -name '*djl*' -o -name 'libtokenizers*' \\) 2>/dev/null";
        assertThat(exec(gateway, find)).as("PyTorch or DJL files in the gateway image").isBlank();
        assertThat(exec(workers.get(0), find)).as("the same search in the worker image").contains("libtorch_cpu.so");
    }

    static String exec(GenericContainer<?> c, String script) throws Exception {
        Container.ExecResult r = c.execInContainer("bash", "-c", script);
        return r.getStdout().trim();
    }

    @Test
    @Order(3)
    void aWorkerKilledMidStreamLosesNoRequest() throws Exception {
        List<String> prompts = GatewayClient.prompts(STREAMS);
        reference = client.runAll(prompts, TOKENS);
        for (GatewayClient.Output o : reference) {
            assertThat(o.tokens()).hasSize(TOKENS);
        }
        double migrationsBefore = GatewayClient.scrape(http + "/metrics", "quire_request_migrations_total");
        ExecutorService pool = Executors.newFixedThreadPool(STREAMS);
        try {
            double firstTokens = GatewayClient.scrape(http + "/metrics", "quire_time_to_first_token_seconds_count");
            List<Future<GatewayClient.Output>> streams = client.start(pool, prompts, TOKENS);
            GenericContainer<?> victim = workerMidStream(firstTokens);
            docker().killContainerCmd(victim.getContainerId()).exec(); // docker kill: SIGKILL
            workers.remove(victim);
            for (int i = 0; i < STREAMS; i++) {
                GatewayClient.Output o = streams.get(i).get(240, TimeUnit.SECONDS);
                assertThat(o.finish()).as("stream %d", i).isEqualTo(FinishReason.LENGTH);
                assertThat(o.tokens()).as("stream %d (%s)", i, prompts.get(i)).isEqualTo(reference.get(i).tokens());
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(GatewayClient.scrape(http + "/metrics", "quire_request_migrations_total") - migrationsBefore)
                .as("streams continued on the other worker").isPositive();
    }

    /**
     * A worker that stops answering without closing its connections (a frozen process, a lost host
     * or network): once the cluster drops it (Hazelcast's heartbeat timeout, 5 s) its streams
     * continue on another worker, identical to an uninterrupted run.
     */
    @Test
    @Order(4)
    void aFrozenWorkersStreamsContinueElsewhereOnceTheClusterDropsIt() throws Exception {
        List<String> prompts = GatewayClient.prompts(STREAMS);
        if (reference == null) {
            reference = client.runAll(prompts, TOKENS);
        }
        workers.add(startWorker("worker-c"));
        GatewayClient.await("2 ready workers again", 120, () -> readyWorkers() == 2);
        double migrationsBefore = GatewayClient.scrape(http + "/metrics", "quire_request_migrations_total");
        ExecutorService pool = Executors.newFixedThreadPool(STREAMS);
        GenericContainer<?>[] frozen = new GenericContainer<?>[1];
        try {
            double firstTokens = GatewayClient.scrape(http + "/metrics", "quire_time_to_first_token_seconds_count");
            List<Future<GatewayClient.Output>> streams = client.start(pool, prompts, TOKENS);
            frozen[0] = workerMidStream(firstTokens);
            docker().killContainerCmd(frozen[0].getContainerId()).withSignal("SIGSTOP").exec();
            for (int i = 0; i < STREAMS; i++) {
                GatewayClient.Output o = streams.get(i).get(120, TimeUnit.SECONDS);
                assertThat(o.finish()).as("stream %d", i).isEqualTo(FinishReason.LENGTH);
                assertThat(o.tokens()).as("stream %d (%s)", i, prompts.get(i)).isEqualTo(reference.get(i).tokens());
            }
        } finally {
            pool.shutdownNow();
            if (frozen[0] != null) {
                docker().killContainerCmd(frozen[0].getContainerId()).exec();
                workers.remove(frozen[0]);
            }
        }
        assertThat(GatewayClient.scrape(http + "/metrics", "quire_request_migrations_total") - migrationsBefore)
                .as("streams continued on the other worker").isPositive();
    }

    /**
     * Every metric the Grafana dashboard (deploy/grafana) queries is served by the gateway or the
     * workers. A counter that exists only once its event happened (a retry, a failure) must at
     * least be registered in the code under its name.
     */
    @Test
    @Order(5)
    void everyMetricTheDashboardQueriesIsServed() throws Exception {
        String dashboard = Files.readString(Images.ROOT.resolve("deploy/grafana/dashboards/quire.json"));
        Set<String> queried = new TreeSet<>();
        Matcher m = Pattern.compile("\\bquire_[a-z0-9_]+").matcher(dashboard);
        while (m.find()) {
            queried.add(m.group());
        }
        Set<String> served = new TreeSet<>();
        List<String> sources = new ArrayList<>(List.of(http + "/metrics"));
        for (GenericContainer<?> w : workers) {
            sources.add("http://" + w.getHost() + ":" + w.getMappedPort(8000) + "/metrics");
        }
        for (String url : sources) {
            for (String line : GatewayClient.get(url).body().split("\n")) {
                if (line.startsWith("quire_")) {
                    served.add(line.replaceFirst("[{ ].*", ""));
                }
            }
        }
        StringBuilder code = new StringBuilder();
        for (String module : List.of("gateway", "scheduler", "worker", "server")) {
            try (Stream<Path> files = Files.walk(Images.ROOT.resolve(module).resolve("src/main/java"))) {
                for (Path f : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                    code.append(Files.readString(f));
                }
            }
        }
        assertThat(queried).hasSizeGreaterThan(10);
        for (String metric : queried) {
            if (!served.contains(metric)) {
                String meter = "\"quire." + metric.substring("quire_".length()).replaceFirst("_total$", "") + "\"";
                assertThat(code).as("%s is neither served (%s) nor registered as %s", metric, served, meter)
                        .contains(meter);
            }
        }
    }

    @Test
    @Order(6)
    void aWorkerStoppedByDockerDrainsAndExitsZeroWithinTheGracePeriod() throws Exception {
        List<String> prompts = GatewayClient.prompts(STREAMS);
        if (reference == null) {
            reference = client.runAll(prompts, TOKENS);
        }
        // The last worker standing: all the streams run on it, and it finishes them before it exits.
        GatewayClient.await("a ready worker", 120, () -> readyWorkers() >= 1);
        ExecutorService pool = Executors.newFixedThreadPool(STREAMS);
        try {
            double firstTokens = GatewayClient.scrape(http + "/metrics", "quire_time_to_first_token_seconds_count");
            List<Future<GatewayClient.Output>> streams = client.start(pool, prompts, TOKENS);
            GenericContainer<?>[] drained = {workerMidStream(firstTokens)};
            String id = drained[0].getContainerId();
            long start = System.nanoTime();
            docker().stopContainerCmd(id).withTimeout(STOP_GRACE_SECONDS).exec(); // docker stop: SIGTERM, then SIGKILL
            double seconds = (System.nanoTime() - start) / 1e9;
            workers.remove(drained[0]);
            InspectContainerResponse.ContainerState state = docker().inspectContainerCmd(id).exec().getState();
            System.out.printf("docker stop: the worker exited %d after %.1f s%n", state.getExitCodeLong(), seconds);
            assertThat(state.getExitCodeLong()).as("the stopped worker's exit status (137: killed at the grace period)")
                    .isZero();
            assertThat(seconds).isLessThan(STOP_GRACE_SECONDS);
            for (int i = 0; i < STREAMS; i++) {
                GatewayClient.Output o = streams.get(i).get(240, TimeUnit.SECONDS);
                assertThat(o.tokens()).as("stream %d (%s)", i, prompts.get(i)).isEqualTo(reference.get(i).tokens());
            }
            String logs = drained[0].getLogs();
            assertThat(logs).containsPattern("Draining: [1-9]\\d* generations in flight").contains("Worker stopped");
        } finally {
            pool.shutdownNow();
        }
    }
}
