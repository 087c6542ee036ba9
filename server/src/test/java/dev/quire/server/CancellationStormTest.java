package dev.quire.server;

import dev.quire.gateway.openai.Http;
import dev.quire.proto.v1.CompleteResponse;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.ListModelsRequest;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.worker.engine.EngineConfig;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A thousand requests whose clients give up right after sending them (gRPC cancel or deadline, an
 * HTTP connection reset or closed), wherever that lands: before the prompt is tokenized, during
 * tokenization or admission, or once the engine runs it. Every one ends, none runs to its length,
 * and the server is left with nothing running, nothing waiting and no KV block in use.
 */
class CancellationStormTest {
    private static final int REQUESTS = 1000;
    /** Long enough that a request whose cancel was lost shows: it finishes with "length". */
    private static final int MAX_TOKENS = 400;
    /** A text prompt, so that each request is tokenized off the event loop before admission. */
    private static final String PROMPT = "Once upon a time, there was a little girl who liked to play outside. ".repeat(2);

    static AllInOneServer server;

    @BeforeAll
    static void start() throws Exception {
        server = AllInOneServer.start(AllInOneServer.Options.local(Path.of("../models/stories260K"),
                EngineConfig.defaults().withKvCacheBytes(64L << 20)));
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    @Test
    void aThousandGrpcCallsCancelledRightAfterSendingAllEndAndFreeEverything() throws Exception {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext()
                .build();
        try {
            // Connected first: otherwise most calls are cancelled before the connection is up, and never sent.
            assertThat(InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .listModels(ListModelsRequest.getDefaultInstance()).getModelsCount()).isEqualTo(1);
            double lengthBefore = finishedWithLength();
            CountDownLatch closed = new CountDownLatch(REQUESTS);
            List<ClientCall<GenerateRequest, GenerateResponse>> cancelLater = new ArrayList<>();
            for (int i = 0; i < REQUESTS; i++) {
                // A third of the calls give up by a 2 ms deadline; a third are cancelled at once, often
                // before they leave the client; a third once all are sent, which mostly lands while
                // their prompts are tokenized or admitted.
                CallOptions options = i % 3 == 1 ? CallOptions.DEFAULT.withDeadlineAfter(2, TimeUnit.MILLISECONDS)
                        : CallOptions.DEFAULT;
                ClientCall<GenerateRequest, GenerateResponse> call =
                        channel.newCall(InferenceGrpc.getGenerateMethod(), options);
                call.start(new ClientCall.Listener<>() {
                    @Override
                    public void onClose(Status status, Metadata trailers) {
                        closed.countDown();
                    }
                }, new Metadata());
                call.request(Integer.MAX_VALUE);
                call.sendMessage(request("grpc-storm-" + i));
                call.halfClose();
                if (i % 3 == 0) {
                    call.cancel("the client gave up", null);
                } else if (i % 3 == 2) {
                    cancelLater.add(call);
                }
            }
            cancelLater.forEach(call -> call.cancel("the client gave up", null));
            assertThat(closed.await(60, TimeUnit.SECONDS)).as("every call ended").isTrue();
            awaitNothingRunning();
            assertThat(finishedWithLength()).as("no request ran to its length: no cancel was lost")
                    .isEqualTo(lengthBefore);

            CompleteResponse after = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .complete(GenerateRequest.newBuilder().setPrompt("Once upon")
                            .setSampling(SamplingParams.newBuilder().setMaxTokens(4).setTemperature(0f)).build());
            assertThat(after.getTokenIdsCount()).isEqualTo(4);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aThousandHttpStreamsAbandonedRightAfterSendingAllEndAndFreeEverything() throws Exception {
        Vertx vertx = Vertx.vertx();
        try {
            HttpClientAgent client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true),
                    new PoolOptions().setHttp1MaxSize(32).setMaxWaitQueueSize(-1));
            double lengthBefore = finishedWithLength();
            Buffer body = Buffer.buffer("{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":" + MAX_TOKENS
                    + ",\"ignore_eos\":true,\"stream\":true}");
            CountDownLatch ended = new CountDownLatch(REQUESTS);
            for (int i = 0; i < REQUESTS; i++) {
                boolean reset = i % 2 == 0;
                client.request(new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1")
                                .setPort(server.httpPort()).setURI("/v1/completions")
                                .putHeader("content-type", "application/json"))
                        .compose(request -> request.end(body).map(v -> request))
                        .onComplete(sent -> {
                            if (sent.succeeded()) {
                                HttpClientRequest request = sent.result();
                                // HTTP/1.1 cannot reset one stream: either way the connection closes.
                                if (reset) {
                                    request.reset();
                                } else {
                                    request.connection().close();
                                }
                            }
                            ended.countDown();
                        });
            }
            assertThat(ended.await(60, TimeUnit.SECONDS)).as("every request was sent and abandoned").isTrue();
            awaitNothingRunning();
            assertThat(finishedWithLength()).as("no request ran to its length: no close was lost")
                    .isEqualTo(lengthBefore);

            Http.Reply after = Http.post(server.httpPort(), "/v1/completions",
                    "{\"prompt\":\"Once upon\",\"max_tokens\":4,\"temperature\":0}");
            assertThat(after.status()).as(after.body()).isEqualTo(200);
        } finally {
            vertx.close().await(10, TimeUnit.SECONDS);
        }
    }

    private static GenerateRequest request(String id) {
        return GenerateRequest.newBuilder().setRequestId(id).setPrompt(PROMPT)
                .setSampling(SamplingParams.newBuilder().setMaxTokens(MAX_TOKENS).setIgnoreEos(true))
                .build();
    }

    /**
     * Waits until the gateway holds no request and the engine runs none, queues none and holds no
     * KV block, as the engine's counters and the /metrics gauges both say.
     */
    private static void awaitNothingRunning() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!idle() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        SchedulerStats s = server.engine().stats();
        assertThat(server.dispatcher().liveRequests()).as("requests the gateway holds").isZero();
        assertThat(server.dispatcher().textJobs()).as("text jobs").isZero();
        assertThat(s.running()).as("running").isZero();
        assertThat(s.waiting()).as("waiting").isZero();
        assertThat(s.kvBlocksUsed()).as("KV blocks used").isZero();
        String metrics = Http.get(server.httpPort(), "/metrics").body();
        assertThat(gauge(metrics, "quire_num_requests_running")).isZero();
        assertThat(gauge(metrics, "quire_num_requests_waiting")).isZero();
        assertThat(gauge(metrics, "quire_kv_cache_blocks_used")).isZero();
    }

    private static boolean idle() {
        SchedulerStats s = server.engine().stats();
        return server.dispatcher().liveRequests() == 0 && server.dispatcher().textJobs() == 0 && s.running() == 0
                && s.waiting() == 0 && s.kvBlocksUsed() == 0;
    }

    /** Requests that finished with reason "length" so far. */
    private static double finishedWithLength() {
        return Http.get(server.httpPort(), "/metrics").body().lines()
                .filter(l -> l.startsWith("quire_request_success_total{") && l.contains("finished_reason=\"length\""))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    private static double gauge(String text, String name) {
        return text.lines().filter(l -> l.startsWith(name + "{") || l.startsWith(name + " "))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst().orElse(-1);
    }
}
