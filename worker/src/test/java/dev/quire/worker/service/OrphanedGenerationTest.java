package dev.quire.worker.service;

import dev.quire.proto.internal.v1.AttachRequest;
import dev.quire.proto.internal.v1.Failure;
import dev.quire.proto.internal.v1.GenerateEvent;
import dev.quire.proto.internal.v1.GenerateRequest;
import dev.quire.proto.internal.v1.Sampling;
import dev.quire.proto.internal.v1.WorkerGrpcClient;
import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.cluster.ClusterSecret;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.TextCodec;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.server.GrpcServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The worker's side of a gateway's death: a stream lost with its connection leaves the generation
 * running for the grace period, and another gateway's Attach receives all of it; a cancel aborts
 * it at once; an orphan nobody takes is aborted when the grace ends.
 */
class OrphanedGenerationTest {
    static final ClusterSecret SECRET = ClusterSecret.of("orphan-test-secret-0123456789");

    Vertx vertx;
    HttpServer server;
    TickingEngine engine;
    String address;

    /** Emits token i (text "<i>") every 10 ms up to max_tokens; records cancels. */
    static final class TickingEngine implements InferenceEngine {
        final Map<String, AtomicBoolean> cancelled = new ConcurrentHashMap<>();
        final List<String> submitted = new CopyOnWriteArrayList<>();
        final java.util.concurrent.ScheduledExecutorService clock =
                java.util.concurrent.Executors.newSingleThreadScheduledExecutor();

        @Override
        public ModelInfo model() {
            throw new UnsupportedOperationException();
        }

        @Override
        public TextCodec text() {
            throw new UnsupportedOperationException();
        }

        @Override
        public SchedulerStats stats() {
            return new SchedulerStats(0, 0, 0, 0, 0, 0, 0, 0, 0);
        }

        @Override
        public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
            AtomicBoolean cancel = new AtomicBoolean();
            cancelled.put(request.requestId(), cancel);
            submitted.add(request.requestId());
            int max = request.sampling().maxTokens();
            listener.onScheduled();
            Runnable[] tick = new Runnable[1];
            int[] next = {0};
            tick[0] = () -> {
                if (cancel.get()) {
                    listener.onFinish(FinishReason.ABORTED, request.promptTokenIds().length, next[0]);
                    return;
                }
                int t = next[0]++;
                listener.onTokens(new int[]{t}, "<" + t + ">", null);
                if (next[0] >= max) {
                    listener.onFinish(FinishReason.LENGTH, request.promptTokenIds().length, max);
                } else {
                    clock.schedule(tick[0], 10, TimeUnit.MILLISECONDS);
                }
            };
            clock.schedule(tick[0], 10, TimeUnit.MILLISECONDS);
            return RequestHandle.of(request.requestId(), () -> cancel.set(true));
        }

        @Override
        public void close() {
            clock.shutdownNow();
        }
    }

    /** What a gateway received on one stream. */
    static final class Received {
        final List<Integer> tokens = new CopyOnWriteArrayList<>();
        final StringBuilder text = new StringBuilder();
        final CompletableFuture<GenerateEvent> last = new CompletableFuture<>();
        volatile GrpcClientRequest<?, GenerateEvent> call;
    }

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        engine = new TickingEngine();
        WorkerService service = new WorkerService(vertx, engine, SECRET, "w1", null, Duration.ofMillis(800));
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.addService(service);
        server = vertx.createHttpServer().requestHandler(grpc).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
        address = "127.0.0.1:" + server.actualPort();
        service.address(address);
    }

    @AfterEach
    void stop() throws Exception {
        engine.close();
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    /** A gateway of its own: its own HTTP/2 connection, closed by {@link GrpcClient#close()}. */
    GrpcClient gateway() {
        return GrpcClient.client(vertx, new HttpClientOptions().setHttp2ClearTextUpgrade(false));
    }

    <Q> Received call(GrpcClient client, io.vertx.grpc.common.ServiceMethod<GenerateEvent, Q> method, Q message)
            throws Exception {
        Received r = new Received();
        GrpcClientRequest<Q, GenerateEvent> req = client.request(SocketAddress.inetSocketAddress(server.actualPort(),
                "127.0.0.1"), method).await(10, TimeUnit.SECONDS);
        r.call = req;
        req.headers().set(ClusterSecret.AUTH_HEADER, SECRET.gatewayProof(address));
        req.send(message).onSuccess(resp -> {
            resp.handler(e -> {
                switch (e.getEventCase()) {
                    case TOKENS -> {
                        r.tokens.addAll(e.getTokens().getTokenIdsList());
                        synchronized (r.text) {
                            r.text.append(e.getTokens().getText());
                        }
                    }
                    case FINISHED, FAILURE -> r.last.complete(e);
                    default -> { }
                }
            });
            resp.exceptionHandler(r.last::completeExceptionally);
        }).onFailure(r.last::completeExceptionally);
        return r;
    }

    Received generate(GrpcClient client, String id, int tokens) throws Exception {
        return call(client, WorkerGrpcClient.Generate, GenerateRequest.newBuilder().setRequestId(id)
                .addPromptTokenIds(1).setSampling(Sampling.newBuilder().setMaxTokens(tokens).setTopP(1)
                        .setRepetitionPenalty(1)).build());
    }

    Received attach(GrpcClient client, String id) throws Exception {
        return call(client, WorkerGrpcClient.Attach, AttachRequest.newBuilder().setRequestId(id).build());
    }

    static void await(java.util.function.BooleanSupplier c) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!c.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition within 10 s").isLessThan(deadline);
            Thread.sleep(5);
        }
    }

    @Test
    void aGenerationWhoseGatewayDiedRunsOnAndAnotherGatewayAttachesToAllOfIt() throws Exception {
        GrpcClient dying = gateway();
        Received first = generate(dying, "r1", 60);
        await(() -> first.tokens.size() >= 5);
        dying.close(); // the connection closes without a cancel, as when a gateway process is killed
        Thread.sleep(100);
        assertThat(engine.cancelled.get("r1").get()).as("an orphan keeps running").isFalse();

        Received taken = attach(gateway(), "r1");
        GenerateEvent last = taken.last.get(30, TimeUnit.SECONDS);
        assertThat(last.hasFinished()).as(last.toString()).isTrue();
        assertThat(last.getFinished().getCompletionTokens()).isEqualTo(60);
        assertThat(taken.tokens).as("every token from the first, once").containsExactlyElementsOf(
                java.util.stream.IntStream.range(0, 60).boxed().toList());
        StringBuilder expected = new StringBuilder();
        for (int i = 0; i < 60; i++) {
            expected.append('<').append(i).append('>');
        }
        assertThat(taken.text.toString()).isEqualTo(expected.toString());
        assertThat(engine.submitted).containsExactly("r1");

        Received again = attach(gateway(), "r1");
        assertThat(again.last.get(30, TimeUnit.SECONDS).getFailure().getKind()).as("delivered once, then forgotten")
                .isEqualTo(Failure.Kind.NOT_FOUND);
    }

    @Test
    void anOrphanThatFinishedBeforeTheAttachIsDeliveredWhole() throws Exception {
        GrpcClient dying = gateway();
        Received first = generate(dying, "r2", 20);
        await(() -> first.tokens.size() >= 2);
        dying.close();
        Thread.sleep(400); // it finishes meanwhile (20 tokens, 10 ms each)
        Received taken = attach(gateway(), "r2");
        assertThat(taken.last.get(30, TimeUnit.SECONDS).getFinished().getReason().name()).isEqualTo("FINISH_LENGTH");
        assertThat(taken.tokens).hasSize(20);
    }

    @Test
    void aCancelAbortsAtOnceAndAnOrphanNobodyTakesIsAbortedAfterTheGrace() throws Exception {
        GrpcClient gw = gateway();
        Received cancelled = generate(gw, "r3", 1000);
        await(() -> cancelled.tokens.size() >= 2);
        cancelled.call.cancel(); // a client hung up: the gateway resets the stream
        await(() -> engine.cancelled.get("r3").get());
        assertThat(attach(gateway(), "r3").last.get(30, TimeUnit.SECONDS).getFailure().getKind())
                .isEqualTo(Failure.Kind.NOT_FOUND);

        GrpcClient dying = gateway();
        Received orphan = generate(dying, "r4", 1000);
        await(() -> orphan.tokens.size() >= 2);
        dying.close();
        Thread.sleep(300);
        assertThat(engine.cancelled.get("r4").get()).isFalse();
        // Another client starts over under the same id without taking it over: refused as UNAVAILABLE,
        // so that its gateway runs it on another worker.
        assertThat(generate(gateway(), "r4", 5).last.get(30, TimeUnit.SECONDS).getFailure().getKind())
                .isEqualTo(Failure.Kind.UNAVAILABLE);
        await(() -> engine.cancelled.get("r4").get()); // the 800 ms grace ended
        Thread.sleep(100);
        assertThat(attach(gateway(), "r4").last.get(30, TimeUnit.SECONDS).getFailure().getKind())
                .isEqualTo(Failure.Kind.NOT_FOUND);
        gw.close();
    }
}
