package dev.quire.loadtest.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A gateway dies mid-stream: its clients retry the same request_id on another gateway and get the
 * whole output, identical to an uninterrupted run. Two gateways and two workers on 127.0.0.1,
 * started through the launcher; kills are SIGKILL.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class GatewayFailoverIT {
    static final String SECRET = "failover-it-" + System.nanoTime();
    static final Map<String, String> ENV = Map.of("QUIRE_CLUSTER_SECRET", SECRET);
    static final int STREAMS = 12;
    static final int TOKENS = 200;
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final List<QuireProcess> processes = new ArrayList<>();
    final List<ManagedChannel> channels = new ArrayList<>();
    int clusterPort;
    Gateway a;
    Gateway b;
    QuireProcess worker1;
    QuireProcess worker2;

    /** A gateway process and a client of it. */
    record Gateway(QuireProcess process, ClusterClient client, ManagedChannel channel, int httpPort) {
    }

    @BeforeAll
    void startCluster() throws Exception {
        clusterPort = QuireProcess.freePort();
        a = startGateway("gateway-a", 0);
        b = startGateway("gateway-b", 1);
        worker1 = startWorker("worker-1");
        worker2 = startWorker("worker-2");
        ClusterClient.await("2 ready workers seen by both gateways", 180,
                () -> readyWorkers(a) == 2 && readyWorkers(b) == 2);
        a.client().awaitModel(60);
        b.client().awaitModel(60);
    }

    /** The members every process may join: the gateways' cluster ports (any live one admits a newcomer). */
    String joinList() {
        return "127.0.0.1:" + clusterPort + ",127.0.0.1:" + (clusterPort + 1) + ",127.0.0.1:" + (clusterPort + 2);
    }

    Gateway startGateway(String name, int index) throws Exception {
        int grpc = QuireProcess.freePort();
        int http = QuireProcess.freePort();
        QuireProcess p = track(QuireProcess.start(name, ENV, "gateway", "--host", "127.0.0.1", "--grpc-port",
                "" + grpc, "--http-port", "" + http, "--cluster-port", "" + (clusterPort + index), "--join",
                joinList(), "--cluster-name", "failover-" + SECRET));
        p.awaitLog("Gateway listening", 120);
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", grpc).usePlaintext().build();
        channels.add(channel);
        return new Gateway(p, new ClusterClient(grpc, http), channel, http);
    }

    QuireProcess startWorker(String name) throws IOException {
        return track(QuireProcess.start(name, ENV, "worker", "--join", joinList(), "--cluster-name",
                "failover-" + SECRET, "--cluster-port", "" + (clusterPort + 100), "--kv-cache-bytes", "64m"));
    }

    QuireProcess track(QuireProcess p) {
        processes.add(p);
        return p;
    }

    static long readyWorkers(Gateway g) {
        return g.client().readyWorkerIds().size();
    }

    @AfterAll
    void stop() throws Exception {
        for (ManagedChannel c : channels) {
            c.shutdownNow();
        }
        for (QuireProcess p : processes) {
            p.close();
        }
    }

    static GenerateRequest request(String id, int n, boolean sampled) {
        return request(id, n, sampled, TOKENS);
    }

    static GenerateRequest request(String id, int n, boolean sampled, int tokens) {
        SamplingParams.Builder s = SamplingParams.newBuilder().setMaxTokens(tokens).setIgnoreEos(true);
        s = sampled ? s.setTemperature(0.8f).setSeed(500 + n) : s.setTemperature(0);
        return GenerateRequest.newBuilder().setRequestId(id).setPrompt(ClusterIT.prompts(STREAMS).get(n))
                .setSampling(s).build();
    }

    /** A stream in progress: the tokens received so far with the index each chunk said it started at. */
    static final class Stream {
        final List<Integer> tokens = new CopyOnWriteArrayList<>();
        final CompletableFuture<FinishReason> done = new CompletableFuture<>();
    }

    static Stream start(ManagedChannel channel, GenerateRequest req) {
        Stream s = new Stream();
        InferenceGrpc.newStub(channel).withDeadlineAfter(180, TimeUnit.SECONDS).generate(req,
                new StreamObserver<>() {
                    FinishReason finish = FinishReason.FINISH_REASON_UNSPECIFIED;

                    @Override
                    public void onNext(GenerateResponse r) {
                        s.tokens.addAll(r.getTokenIdsList());
                        if (r.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
                            finish = r.getFinishReason();
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        s.done.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                        s.done.complete(finish);
                    }
                });
        return s;
    }

    /** Runs a stream to its end; a failed call throws its gRPC status. */
    static ClusterClient.Output run(ManagedChannel channel, GenerateRequest req) throws Exception {
        Stream s = start(channel, req);
        FinishReason f;
        try {
            f = s.done.get(180, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
        return new ClusterClient.Output(List.copyOf(s.tokens), f, 0);
    }

    double workersSum(String metric) throws Exception {
        double sum = 0;
        for (JsonNode w : b.client().getJson("/cluster").get("workers")) {
            sum += ClusterClient.scrape(w.get("metrics_address").asText(), metric);
        }
        return sum;
    }

    long workersCompleted() throws Exception {
        long n = 0;
        for (JsonNode w : b.client().getJson("/cluster").get("workers")) {
            n += w.get("requests_completed").asLong();
        }
        return n;
    }

    /** Fault-free outputs of every request (greedy and seeded), through gateway b under other ids. */
    List<ClusterClient.Output> expected(boolean sampled, String tag) throws Exception {
        List<Stream> streams = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
            streams.add(start(b.channel(), request("expected-" + tag + "-" + i, i, sampled)));
        }
        List<ClusterClient.Output> out = new ArrayList<>();
        for (Stream s : streams) {
            FinishReason f = s.done.get(180, TimeUnit.SECONDS);
            out.add(new ClusterClient.Output(List.copyOf(s.tokens), f, 0));
        }
        return out;
    }

    @Test
    @Order(1)
    void aRequestIdInUseIsRefusedAndAFinishedOneIsAnsweredAgainWithoutRunningTwice() throws Exception {
        // Streaming through a: the same id on b is refused (a is alive), so is another request under it.
        // Background load keeps the first stream going long enough to ask while it runs.
        List<Stream> load = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            load.add(start(a.channel(), request("load-" + i, i % STREAMS, false, 400)));
        }
        Stream first = start(a.channel(), request("busy-1", 0, false, 400));
        ClusterClient.await("the first stream under way", 60, () -> first.tokens.size() >= 5);
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> run(b.channel(), request("busy-1", 0, false, 400)))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS));
        assertThat((System.nanoTime() - t0) / 1e9).as("refused on a's heartbeat, not after the 7 s verdict timeout")
                .isLessThan(6.0);
        assertThatThrownBy(() -> run(b.channel(), request("busy-1", 3, false, 400)))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS));
        assertThatThrownBy(() -> run(a.channel(), request("busy-1", 0, false, 400))).as("and on its own gateway")
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS));
        assertThat(first.tokens.size()).as("asked while it ran").isLessThan(400);
        assertThat(first.done.get(180, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        for (Stream s : load) {
            s.done.get(180, TimeUnit.SECONDS);
        }

        // Finished: asked again on either gateway, the kept result comes back whole; nothing runs again.
        Thread.sleep(1000); // the workers' records (refreshed every 250 ms) count every completion so far
        long completed = workersCompleted();
        double prefill = workersSum("quire_prefix_cache_queries_total");
        ClusterClient.Output again = run(b.channel(), request("busy-1", 0, false, 400));
        assertThat(again.tokens()).isEqualTo(List.copyOf(first.tokens));
        assertThat(again.finish()).isEqualTo(FinishReason.LENGTH);
        assertThat(run(a.channel(), request("busy-1", 0, false, 400)).tokens()).isEqualTo(List.copyOf(first.tokens));
        Thread.sleep(1000);
        assertThat(workersCompleted()).isEqualTo(completed);
        assertThat(workersSum("quire_prefix_cache_queries_total")).isEqualTo(prefill);

        // The HTTP API takes the id from X-Request-Id: the same answer twice, once computed.
        String body = "{\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"temperature\":0}";
        HttpResponse<String> one = post(a, "/v1/completions", "http-req-1", body);
        HttpResponse<String> two = post(b, "/v1/completions", "http-req-1", body);
        assertThat(one.statusCode()).isEqualTo(200);
        assertThat(one.headers().firstValue("X-Request-Id")).contains("http-req-1");
        JsonNode j1 = ClusterClient.JSON.readTree(one.body());
        JsonNode j2 = ClusterClient.JSON.readTree(two.body());
        assertThat(j1.get("id").asText()).isEqualTo("http-req-1");
        assertThat(j2.at("/choices/0/text").asText()).isEqualTo(j1.at("/choices/0/text").asText());
        assertThat(j2.at("/usage/completion_tokens").asInt()).isEqualTo(24);
        HttpResponse<String> conflict = post(b, "/v1/completions", "http-req-1",
                "{\"prompt\":\"Something else\",\"max_tokens\":24,\"temperature\":0}");
        assertThat(conflict.statusCode()).as(conflict.body()).isEqualTo(409);
        assertThat(post(b, "/v1/completions", "bad id!", body).statusCode()).isEqualTo(400);
    }

    static HttpResponse<String> post(Gateway g, String path, String requestId, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + g.httpPort() + path))
                .header("Content-Type", "application/json").header("X-Request-Id", requestId)
                .timeout(Duration.ofSeconds(120)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    @Order(2)
    void aGatewayKilledMidStreamLosesNothingTheRetryReattachesWithoutRunningTwice() throws Exception {
        List<ClusterClient.Output> greedy = expected(false, "g");
        List<ClusterClient.Output> seeded = expected(true, "s");
        List<Stream> first = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
            first.add(start(a.channel(), request("kill-a-g" + i, i, false)));
            first.add(start(a.channel(), request("kill-a-s" + i, i, true)));
        }
        ClusterClient.await("every stream under way", 120,
                () -> first.stream().allMatch(s -> s.tokens.size() >= 10));
        double prefill = workersSum("quire_prefix_cache_queries_total");
        long completed = workersCompleted();
        a.process().kill();
        int broken = 0;
        for (Stream s : first) {
            try {
                s.done.get(30, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                broken++;
            }
        }
        assertThat(broken).as("streams cut by the gateway's death").isPositive();
        List<Stream> retries = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
            retries.add(start(b.channel(), request("kill-a-g" + i, i, false)));
            retries.add(start(b.channel(), request("kill-a-s" + i, i, true)));
        }
        for (int i = 0; i < STREAMS; i++) {
            Stream g = retries.get(2 * i);
            Stream s = retries.get(2 * i + 1);
            assertThat(g.done.get(180, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
            assertThat(List.copyOf(g.tokens)).as("greedy %d, from its first token", i)
                    .isEqualTo(greedy.get(i).tokens());
            assertThat(s.done.get(180, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
            assertThat(List.copyOf(s.tokens)).as("seeded %d, from its first token", i)
                    .isEqualTo(seeded.get(i).tokens());
        }
        assertThat(workersSum("quire_prefix_cache_queries_total")).as("no prompt was computed again")
                .isEqualTo(prefill);
        ClusterClient.await("the workers' records count the completions", 10, () -> {
            try {
                return workersCompleted() - completed >= 2L * STREAMS;
            } catch (Exception e) {
                return false;
            }
        });
        Thread.sleep(1000);
        assertThat(workersCompleted() - completed).as("each generation ran once").isEqualTo(2L * STREAMS);
        assertThat(ClusterClient.scrapeSum(b.client(), "quire_request_recoveries_total"))
                .isGreaterThanOrEqualTo(2.0 * STREAMS);
    }

    @Test
    @Order(3)
    void aGatewayAndAWorkerKilledTogetherStillLoseNothing() throws Exception {
        Gateway c = startGateway("gateway-c", 2);
        ClusterClient.await("gateway c sees both workers", 60, () -> readyWorkers(c) == 2);
        c.client().awaitModel(60);
        List<ClusterClient.Output> greedy = expected(false, "g2");
        List<Stream> first = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
            first.add(start(c.channel(), request("kill-c-g" + i, i, false)));
        }
        ClusterClient.await("every stream under way", 120,
                () -> first.stream().allMatch(s -> s.tokens.size() >= 10));
        c.process().kill();
        worker1.kill();
        List<Stream> retries = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
            retries.add(start(b.channel(), request("kill-c-g" + i, i, false)));
        }
        for (int i = 0; i < STREAMS; i++) {
            Stream g = retries.get(i);
            assertThat(g.done.get(180, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
            assertThat(List.copyOf(g.tokens)).as("greedy %d, from its first token", i)
                    .isEqualTo(greedy.get(i).tokens());
        }
    }

    @Test
    @Order(4)
    void quireClusterDrainMigratesAWorkersStreamsAndTheWorkerLeaves() throws Exception {
        QuireProcess worker3 = startWorker("worker-3");
        ClusterClient.await("2 ready workers", 120, () -> readyWorkers(b) == 2);
        List<ClusterClient.Output> greedy = expected(false, "d");
        String address = null;
        for (JsonNode w : b.client().getJson("/cluster").get("workers")) {
            if (!w.get("metrics_address").asText().isEmpty() && worker2.output().contains(w.get("id").asText())) {
                address = w.get("address").asText();
            }
        }
        assertThat(address).as("worker-2's address in GET /cluster").isNotNull();
        String victim = address;
        List<Stream> streams = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
            streams.add(start(b.channel(), request("drain-" + i, i, false)));
        }
        ClusterClient.await("worker-2 running streams", 60, () -> {
            try {
                JsonNode w = b.client().worker(victim);
                return w != null && w.get("running").asInt() >= 2;
            } catch (Exception e) {
                return false;
            }
        });
        QuireProcess drain = track(QuireProcess.start("drain", ENV, "cluster", "drain", victim, "--mode", "migrate",
                "--gateway", "http://127.0.0.1:" + b.httpPort()));
        assertThat(drain.awaitExit(60)).isTrue();
        assertThat(drain.output()).contains("Draining worker").contains("left the cluster");
        assertThat(worker2.awaitExit(30)).as("the drained worker exits").isTrue();
        for (int i = 0; i < STREAMS; i++) {
            Stream g = streams.get(i);
            assertThat(g.done.get(180, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
            assertThat(List.copyOf(g.tokens)).as("stream %d", i).isEqualTo(greedy.get(i).tokens());
        }
        assertThat(worker3.output()).doesNotContain("ERROR");
    }
}
