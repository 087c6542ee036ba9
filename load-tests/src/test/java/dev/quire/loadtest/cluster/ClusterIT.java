package dev.quire.loadtest.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.proto.internal.v1.DescribeRequest;
import dev.quire.proto.internal.v1.WorkerGrpc;
import dev.quire.proto.v1.FinishReason;
import dev.quire.scheduler.cluster.ClusterSecret;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The cluster as users run it: {@code ./quire gateway} and {@code ./quire worker} processes on
 * 127.0.0.1, next to {@code ./quire serve} as the reference, all started through the launcher.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterIT {
    static final String SECRET = "cluster-it-secret-" + System.nanoTime();
    static final Map<String, String> ENV = Map.of("QUIRE_CLUSTER_SECRET", SECRET);
    static final int STREAMS = 60;
    static final int TOKENS = 48;

    final List<QuireProcess> processes = new ArrayList<>();
    final List<QuireProcess> workers = new ArrayList<>();
    final List<String> workerAddresses = new ArrayList<>();
    QuireProcess serve;
    QuireProcess gateway;
    ClusterClient reference;
    ClusterClient cluster;
    int clusterPort;
    int serveGrpc;
    int serveHttp;

    @BeforeAll
    void startCluster() throws Exception {
        serveGrpc = QuireProcess.freePort();
        serveHttp = QuireProcess.freePort();
        serve = track(QuireProcess.start("serve", Map.of(), "serve", "--grpc-port", "" + serveGrpc,
                "--http-port", "" + serveHttp, "--kv-cache-bytes", "64m", "--cluster-name", "it-serve-" + SECRET));
        clusterPort = QuireProcess.freePort();
        int gatewayGrpc = QuireProcess.freePort();
        int gatewayHttp = QuireProcess.freePort();
        gateway = track(QuireProcess.start("gateway", ENV, "gateway", "--host", "127.0.0.1", "--grpc-port",
                "" + gatewayGrpc, "--http-port", "" + gatewayHttp, "--cluster-port", "" + clusterPort,
                "--cluster-name", "it-" + SECRET));
        gateway.awaitLog("Gateway listening", 120);
        for (int i = 0; i < 3; i++) {
            // worker-0 drains by finishing its requests, worker-2 by migrating them (see the drain tests).
            startWorker("worker-" + i, "--drain-mode", i == 2 ? "migrate" : "finish");
        }
        for (QuireProcess w : workers) {
            workerAddresses.add(w.awaitLog("data plane on (127\\.0\\.0\\.1:\\d+)", 180));
        }
        serve.awaitLog("Quire is serving", 180);
        reference = new ClusterClient(serveGrpc, serveHttp);
        cluster = new ClusterClient(gatewayGrpc, gatewayHttp);
        ClusterClient.await("3 ready workers in GET /cluster", 60, () -> readyWorkers() == 3);
    }

    QuireProcess startWorker(String name, String... extra) throws IOException {
        // (extra: worker options beyond the cluster's, e.g. --drain-mode)
        List<String> args = new ArrayList<>(List.of("worker", "--join", "127.0.0.1:" + clusterPort,
                "--cluster-name", "it-" + SECRET, "--cluster-port", "" + (clusterPort + 100), "--kv-cache-bytes", "64m"));
        args.addAll(List.of(extra));
        QuireProcess w = track(QuireProcess.start(name, ENV, args.toArray(String[]::new)));
        workers.add(w);
        return w;
    }

    QuireProcess track(QuireProcess p) {
        processes.add(p);
        return p;
    }

    long readyWorkers() {
        return cluster.readyWorkerIds().size();
    }

    @AfterAll
    void stop() throws Exception {
        for (ClusterClient c : new ClusterClient[]{reference, cluster}) {
            if (c != null) {
                c.close();
            }
        }
        for (QuireProcess p : processes) {
            p.close();
        }
    }

    static List<String> prompts(int n) {
        String[] starts = {"Once upon a time", "The little dog", "One day, Lily", "Tom and Sam", "The sun was",
                "A big red ball", "In the park", "Mom said", "The cat wanted", "There was a tree"};
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(starts[i % starts.length] + (i / starts.length == 0 ? "" : " and friend " + i / starts.length));
        }
        return out;
    }

    static List<ClusterClient.Output> runAll(ClusterClient client, List<String> prompts, int tokens)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(prompts.size());
        try {
            List<Future<ClusterClient.Output>> futures = new ArrayList<>();
            for (String p : prompts) {
                futures.add(pool.submit(() -> client.greedy(p, tokens)));
            }
            List<ClusterClient.Output> out = new ArrayList<>();
            for (Future<ClusterClient.Output> f : futures) {
                out.add(f.get(180, TimeUnit.SECONDS));
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    @Order(1)
    void sixtyConcurrentStreamsMatchServeTokenForTokenAndEveryWorkerServes() throws Exception {
        List<String> prompts = prompts(STREAMS);
        List<ClusterClient.Output> expected = runAll(reference, prompts, TOKENS);
        List<ClusterClient.Output> actual = runAll(cluster, prompts, TOKENS);
        for (int i = 0; i < STREAMS; i++) {
            assertThat(expected.get(i).tokens()).hasSize(TOKENS);
            assertThat(actual.get(i).finish()).isEqualTo(FinishReason.LENGTH);
            assertThat(actual.get(i).tokens()).as("stream %d (%s)", i, prompts.get(i))
                    .isEqualTo(expected.get(i).tokens());
        }
        for (String address : workerAddresses) {
            ClusterClient.await("worker " + address + " published its completions", 10,
                    () -> completed(address) > 0);
        }
    }

    @Test
    @Order(2)
    void cacheAwarePlacementSendsEachGroupToTheWorkerHoldingItsPrefixWhileOtherLoadSpreads() throws Exception {
        List<String> metrics = new ArrayList<>();
        for (JsonNode w : cluster.getJson("/cluster").get("workers")) {
            metrics.add(w.get("metrics_address").asText());
        }
        SharedPrefixWorkload workload = new SharedPrefixWorkload(4, 8, 256, 16, 4, 8, 42);
        SharedPrefixWorkload.Result r = workload.run(cluster, metrics);
        System.out.printf("cache-aware: %d followers, prefix hits %.1f%%, prefill tokens %.0f, TTFT p50 %.1f ms%n",
                r.followers(), 100 * r.followerHitShare(256), r.prefillTokens(), r.ttftPercentile(50));
        assertThat(r.followerHitShare(256)).as("share of the followers' prefix tokens served from cache")
                .isGreaterThan(0.9);

        // Unrelated prompts, one after another at an idle cluster, still go to every worker.
        Map<String, Long> before = placements();
        for (String p : prompts(9)) {
            cluster.greedy("Unrelated: " + p, 2);
        }
        Map<String, Long> after = placements();
        for (String worker : after.keySet()) {
            assertThat(after.get(worker) - before.getOrDefault(worker, 0L)).as("placements on %s", worker)
                    .isPositive();
        }
        assertThat(after).hasSize(3);
    }

    @Test
    @Order(3)
    void aClientThatHangsUpFreesItsKvBlocksOnTheWorker() throws Exception {
        // Long generations; each client goes away after a few tokens: the cancel travels over the
        // data plane and the worker aborts the sequence.
        List<java.util.concurrent.CompletableFuture<Integer>> cancels = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            cancels.add(cluster.cancelAfter("Hang up " + i, 480, 5));
        }
        for (var c : cancels) {
            assertThat(c.get(60, TimeUnit.SECONDS)).isGreaterThanOrEqualTo(5);
        }
        ClusterClient.await("every worker idle with its KV blocks free", 10, () -> runningOnWorkers() == 0
                && kvBlocksUsed() == 0);
    }

    long runningOnWorkers() {
        return sumOverWorkers("running");
    }

    long kvBlocksUsed() {
        return sumOverWorkers("kv_blocks_used");
    }

    long sumOverWorkers(String field) {
        try {
            long n = 0;
            for (JsonNode w : cluster.getJson("/cluster").get("workers")) {
                n += w.get(field).asLong();
            }
            return n;
        } catch (Exception e) {
            return -1;
        }
    }

    /** The gateway's placement counter, per worker id. */
    Map<String, Long> placements() throws Exception {
        Map<String, Long> out = new java.util.TreeMap<>();
        String body = cluster.get("/metrics").body();
        for (String line : body.split("\n")) {
            if (line.startsWith("quire_placements_total{")) {
                String worker = line.replaceAll(".*worker=\"([^\"]+)\".*", "$1");
                out.put(worker, (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)));
            }
        }
        return out;
    }

    long completed(String address) {
        try {
            JsonNode w = cluster.worker(address);
            return w == null ? -1 : w.get("requests_completed").asLong();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    @Test
    @Order(4)
    void internalCallsWithoutTheClusterSecretAreRefused() throws Exception {
        String address = workerAddresses.get(0);
        int port = Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            var bare = WorkerGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
            assertThatThrownBy(() -> bare.describe(DescribeRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
            // A proof made with another secret, or for another worker's address, is refused too.
            for (String proof : new String[]{ClusterSecret.of("not-the-cluster-secret").gatewayProof(address),
                    ClusterSecret.of(SECRET).gatewayProof("127.0.0.1:1")}) {
                Metadata headers = new Metadata();
                headers.put(Metadata.Key.of(ClusterSecret.AUTH_HEADER, Metadata.ASCII_STRING_MARSHALLER), proof);
                var forged = bare.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
                assertThatThrownBy(() -> forged.describe(DescribeRequest.getDefaultInstance()))
                        .isInstanceOfSatisfying(StatusRuntimeException.class,
                                e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
            }
            Metadata good = new Metadata();
            good.put(Metadata.Key.of(ClusterSecret.AUTH_HEADER, Metadata.ASCII_STRING_MARSHALLER),
                    ClusterSecret.of(SECRET).gatewayProof(address));
            assertThat(bare.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(good))
                    .describe(DescribeRequest.getDefaultInstance()).getName()).isEqualTo("stories260K");
        } finally {
            channel.shutdownNow();
        }
        // The other direction: a worker that cannot prove the secret joins Hazelcast but gets no request.
        Map<String, String> wrong = Map.of("QUIRE_CLUSTER_SECRET", "a-different-secret-entirely");
        QuireProcess forged = track(QuireProcess.start("impostor", wrong, "worker", "--join",
                "127.0.0.1:" + clusterPort, "--cluster-name", "it-" + SECRET, "--cluster-port", "" + (clusterPort + 100),
                "--kv-cache-bytes", "64m"));
        String forgedAddress = forged.awaitLog("data plane on (127\\.0\\.0\\.1:\\d+)", 180);
        gateway.awaitLog("Not using worker .*refused this gateway's proof", 30);
        runAll(cluster, prompts(12), 8);
        assertThat(completed(forgedAddress)).isZero();
        forged.close();
    }

    @Test
    @Order(5)
    void aWorkerStartedUnderLoadReceivesRequestsWithinFiveSeconds() throws Exception {
        AtomicBoolean loading = new AtomicBoolean(true);
        List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        ExecutorService load = Executors.newFixedThreadPool(16);
        try {
            for (int t = 0; t < 16; t++) {
                int id = t;
                load.submit(() -> {
                    while (loading.get()) {
                        try {
                            ClusterClient.Output o = cluster.greedy("Scale out " + id, 64);
                            if (o.tokens().size() != 64) {
                                failures.add("short output " + o.tokens().size());
                            }
                        } catch (RuntimeException e) {
                            failures.add(e.toString());
                        }
                    }
                });
            }
            QuireProcess added = startWorker("worker-added");
            String address = added.awaitLog("data plane on (127\\.0\\.0\\.1:\\d+)", 180);
            ClusterClient.await("the new worker in GET /cluster", 30, () -> {
                try {
                    return cluster.worker(address) != null;
                } catch (Exception e) {
                    return false;
                }
            });
            long seen = System.nanoTime();
            ClusterClient.await("the new worker serving requests", 5, () -> {
                try {
                    JsonNode w = cluster.worker(address);
                    return w != null && (w.get("running").asInt() > 0 || w.get("requests_completed").asLong() > 0);
                } catch (Exception e) {
                    return false;
                }
            });
            System.out.printf("scale-out: new worker took requests %.1f s after it appeared%n",
                    (System.nanoTime() - seen) / 1e9);
            workerAddresses.add(address);
        } finally {
            loading.set(false);
            load.shutdown();
            assertThat(load.awaitTermination(120, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(failures).isEmpty();
    }

    @Test
    @Order(6)
    void aWorkerKilledMidGenerationLosesNoTokenAndRepeatsNone() throws Exception {
        List<String> prompts = prompts(STREAMS);
        int tokens = 200;
        List<ClusterClient.Output> greedyExpected = runAll(reference, prompts, tokens);
        List<ClusterClient.Output> sampledExpected = new ArrayList<>();
        ExecutorService refs = Executors.newFixedThreadPool(20);
        try {
            List<Future<ClusterClient.Output>> f = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                int n = i;
                f.add(refs.submit(() -> reference.sampled(prompts.get(n), tokens, 0.8f, 1000 + n)));
            }
            for (Future<ClusterClient.Output> o : f) {
                sampledExpected.add(o.get(180, TimeUnit.SECONDS));
            }
        } finally {
            refs.shutdownNow();
        }
        QuireProcess victim = workers.get(1);
        String victimAddress = workerAddresses.get(1);
        double migrationsBefore = ClusterClient.scrapeSum(cluster, "quire_request_migrations_total");
        ExecutorService pool = Executors.newFixedThreadPool(STREAMS + 20);
        try {
            List<Future<ClusterClient.Output>> greedy = new ArrayList<>();
            List<Future<ClusterClient.Output>> sampled = new ArrayList<>();
            for (String p : prompts) {
                greedy.add(pool.submit(() -> cluster.greedy(p, tokens)));
            }
            for (int i = 0; i < 20; i++) {
                int n = i;
                sampled.add(pool.submit(() -> cluster.sampled(prompts.get(n), tokens, 0.8f, 1000 + n)));
            }
            ClusterClient.await("the victim running several streams", 60, () -> {
                try {
                    JsonNode w = cluster.worker(victimAddress);
                    return w != null && w.get("running").asInt() >= 5;
                } catch (Exception e) {
                    return false;
                }
            });
            victim.kill(); // SIGKILL: no goodbye
            for (int i = 0; i < STREAMS; i++) {
                ClusterClient.Output o = greedy.get(i).get(180, TimeUnit.SECONDS);
                assertThat(o.tokens()).as("greedy stream %d", i).isEqualTo(greedyExpected.get(i).tokens());
                assertThat(o.finish()).isEqualTo(FinishReason.LENGTH);
            }
            for (int i = 0; i < 20; i++) {
                ClusterClient.Output o = sampled.get(i).get(180, TimeUnit.SECONDS);
                assertThat(o.tokens()).as("seeded stream %d", i).isEqualTo(sampledExpected.get(i).tokens());
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(victim.awaitExit(10)).isTrue();
        workers.remove(victim);
        workerAddresses.remove(victimAddress);
        assertThat(ClusterClient.scrapeSum(cluster, "quire_request_migrations_total") - migrationsBefore)
                .as("requests continued on another worker").isPositive();
        assertThat(gateway.output()).as("the access log records the migration").containsPattern("migrated=\\d");
    }

    @Test
    @Order(7)
    void aWorkerDrainedUnderLoadFailsNoRequestAndExits() throws Exception {
        QuireProcess drained = workers.get(0);
        List<String> prompts = prompts(40);
        ExecutorService pool = Executors.newFixedThreadPool(prompts.size());
        try {
            List<Future<ClusterClient.Output>> futures = new ArrayList<>();
            for (String p : prompts) {
                futures.add(pool.submit(() -> cluster.greedy(p, 96)));
            }
            Thread.sleep(500);
            drained.terminate();
            for (Future<ClusterClient.Output> f : futures) {
                ClusterClient.Output o = f.get(180, TimeUnit.SECONDS);
                assertThat(o.tokens()).hasSize(96);
                assertThat(o.finish()).isEqualTo(FinishReason.LENGTH);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(drained.awaitExit(60)).as("the drained worker exits").isTrue();
        assertThat(drained.process.exitValue()).isZero();
        assertThat(drained.output()).contains("Draining");
    }

    @Test
    @Order(8)
    void aWorkerDrainedByMigrationHandsItsStreamsOverAtOnceAndExits() throws Exception {
        QuireProcess drained = workers.stream().filter(w -> w.name.equals("worker-2")).findFirst().orElseThrow();
        List<String> prompts = prompts(30);
        int tokens = 300;
        List<ClusterClient.Output> expected = runAll(reference, prompts, tokens);
        double migrationsBefore = ClusterClient.scrapeSum(cluster, "quire_request_migrations_total");
        ExecutorService pool = Executors.newFixedThreadPool(prompts.size());
        long signalled;
        try {
            List<Future<ClusterClient.Output>> futures = new ArrayList<>();
            for (String p : prompts) {
                futures.add(pool.submit(() -> cluster.greedy(p, tokens)));
            }
            String address = workerAddresses.get(workers.indexOf(drained));
            ClusterClient.await("the drained worker running several streams", 60, () -> {
                try {
                    JsonNode w = cluster.worker(address);
                    return w != null && w.get("running").asInt() >= 3;
                } catch (Exception e) {
                    return false;
                }
            });
            signalled = System.nanoTime();
            drained.terminate();
            assertThat(drained.awaitExit(30)).isTrue();
            double exitSeconds = (System.nanoTime() - signalled) / 1e9;
            System.out.printf("drain by migration: worker exited %.2f s after SIGTERM%n", exitSeconds);
            assertThat(exitSeconds).as("seconds from SIGTERM to exit").isLessThan(5.0);
            for (int i = 0; i < prompts.size(); i++) {
                ClusterClient.Output o = futures.get(i).get(180, TimeUnit.SECONDS);
                assertThat(o.tokens()).as("stream %d", i).isEqualTo(expected.get(i).tokens());
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(drained.process.exitValue()).isZero();
        assertThat(ClusterClient.scrapeSum(cluster, "quire_request_migrations_total") - migrationsBefore)
                .as("streams continued elsewhere").isPositive();
    }

    @Test
    @Order(9)
    void serveOpensNoPortBeyondTheTwoPublicOnesOffLoopback() throws Exception {
        Set<Integer> offLoopback = new HashSet<>();
        for (ProcessSockets.Listening l : ProcessSockets.listening(serve.pid())) {
            if (!l.address().startsWith("127.")) {
                offLoopback.add(l.port());
            }
        }
        assertThat(offLoopback).containsExactlyInAnyOrder(serveGrpc, serveHttp);
    }

    @Test
    @Order(10)
    void theGatewayProcessCarriesNoDjlOrPyTorch() throws Exception {
        String cmdline = java.nio.file.Files.readString(java.nio.file.Path.of("/proc", "" + gateway.pid(), "cmdline"))
                .replace('\0', ' ');
        String classpath = cmdline.replaceAll(".* -cp (\\S+) .*", "$1");
        List<String> jars = new ArrayList<>();
        for (String entry : classpath.split(":")) {
            java.nio.file.Path p = QuireProcess.ROOT.resolve(entry.endsWith("/*") ? entry.substring(0, entry.length() - 2)
                    : entry);
            if (entry.endsWith("/*")) {
                try (var files = java.nio.file.Files.list(p)) {
                    files.forEach(f -> jars.add(f.getFileName().toString()));
                }
            } else {
                jars.add(p.getFileName().toString());
            }
        }
        assertThat(jars).as("the gateway's runtime classpath").isNotEmpty()
                .anyMatch(j -> j.startsWith("quire-gateway"))
                .noneMatch(j -> j.startsWith("api-0.") || j.startsWith("pytorch") || j.startsWith("tokenizers")
                        || j.startsWith("quire-worker") || j.startsWith("quire-server") || j.contains("djl"));
    }
}
