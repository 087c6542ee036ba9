package dev.quire.gateway.api;

import dev.quire.gateway.GatewayServer;
import dev.quire.gateway.TestModels;
import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.proto.v1.TokenLogprob;
import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.TextCodec;
import dev.quire.scheduler.engine.TokenLogprobs;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Generate streams under gRPC flow control, through a real gateway and grpc-java clients: a client
 * that stops reading costs a bounded, coalesced backlog and slows nobody; one that reads nothing
 * for the slow-client timeout is aborted; one that keeps up gets every token at once.
 */
class GrpcFlowControlTest {
    /** Client receive window of the stalling clients: small, so that a stall fills it quickly. */
    static final int SMALL_WINDOW = 16 * 1024;

    static Vertx vertx;
    static CountingEngine engine;
    static GatewayServer gateway;
    static GatewayServer impatientGateway;
    static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        engine = new CountingEngine();
        gateway = gateway(AdmissionLimits.defaults());
        impatientGateway = gateway(AdmissionLimits.defaults().withSlowClientTimeout(Duration.ofMillis(500)));
        channel = NettyChannelBuilder.forAddress("127.0.0.1", gateway.grpcPort()).usePlaintext().build();
    }

    static GatewayServer gateway(AdmissionLimits limits) throws Exception {
        GatewayMetrics metrics = new GatewayMetrics();
        RequestDispatcher dispatcher = new RequestDispatcher(vertx, new ModelCatalog().add(engine),
                new AdmissionController(ApiKeys.none(), limits), metrics, new AccessLog(false));
        return GatewayServer.start(vertx, dispatcher, metrics, "127.0.0.1", 0, 0);
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        gateway.close();
        impatientGateway.close();
        engine.close();
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    static GenerateRequest request(String id, int maxTokens, int logprobs) {
        SamplingParams.Builder sampling = SamplingParams.newBuilder().setMaxTokens(maxTokens);
        if (logprobs > 0) {
            sampling.setLogprobs(logprobs);
        }
        return GenerateRequest.newBuilder().setRequestId(id).setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(sampling).build();
    }

    @Test
    void aStalledClientGetsEveryTokenInFewLargerMessagesAndSlowsNobody() throws Exception {
        int n = 20_000;
        int logprobs = 20; // the most a request may ask for: about 230 bytes per token
        ManagedChannel slowChannel = NettyChannelBuilder.forAddress("127.0.0.1", gateway.grpcPort()).usePlaintext()
                .flowControlWindow(SMALL_WINDOW).build();
        try {
            ManualReader stalled = new ManualReader(slowChannel, request("stalled", n, logprobs));
            assertThat(stalled.firstMessage.await(20, TimeUnit.SECONDS)).as("the stalled stream started").isTrue();

            // Meanwhile other streams on another connection run to the end.
            int others = 8;
            int each = 2_000;
            List<Collector> fast = new ArrayList<>();
            InferenceGrpc.InferenceStub stub = InferenceGrpc.newStub(channel);
            for (int i = 0; i < others; i++) {
                Collector c = new Collector();
                fast.add(c);
                stub.generate(request("fast-" + i, each, 0), c);
            }
            for (Collector c : fast) {
                assertThat(c.done.await(60, TimeUnit.SECONDS)).as("a fast stream finished").isTrue();
                assertThat(c.error).isNull();
                assertComplete(c.messages, each, 0);
            }
            // The engine emitted every token of the stalled stream without waiting for its client...
            CountingEngine.Running r = engine.running("stalled");
            assertThat(r.finished.await(60, TimeUnit.SECONDS)).as("the engine finished the stalled stream").isTrue();
            assertThat(r.finish).isEqualTo(dev.quire.scheduler.engine.FinishReason.LENGTH);
            // ...which, all that time, had read only the one message it asked for.
            assertThat(stalled.messages).hasSize(1);

            stalled.call.request(Integer.MAX_VALUE);
            assertThat(stalled.closed.await(60, TimeUnit.SECONDS)).as("the stalled stream ended").isTrue();
            assertThat(stalled.status.getCode()).isEqualTo(Status.Code.OK);
            List<GenerateResponse> got = List.copyOf(stalled.messages);
            assertComplete(got, n, logprobs);
            // Coalesced: what could not be sent while the client stalled went as a few large messages.
            assertThat(got.size()).as("messages for %d tokens", n).isLessThan(n / 20);
            assertThat(got).allSatisfy(m -> assertThat(m.getSerializedSize()).isLessThan(GrpcTokenRelay.MAX_CHUNK_BYTES));
        } finally {
            slowChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aClientThatReadsNothingForTheSlowClientTimeoutIsAbortedAndItsSequenceFreed() throws Exception {
        ManagedChannel slowChannel = NettyChannelBuilder.forAddress("127.0.0.1", impatientGateway.grpcPort())
                .usePlaintext().flowControlWindow(SMALL_WINDOW).build();
        ManagedChannel okChannel = NettyChannelBuilder.forAddress("127.0.0.1", impatientGateway.grpcPort())
                .usePlaintext().build();
        try {
            // Would take minutes to generate: only an abort ends it in time.
            ManualReader stalled = new ManualReader(slowChannel, request("never-reads", 10_000_000, 0));
            assertThat(stalled.firstMessage.await(20, TimeUnit.SECONDS)).isTrue();
            CountingEngine.Running r = engine.running("never-reads");
            assertThat(r.finished.await(30, TimeUnit.SECONDS)).as("the gateway aborted the sequence").isTrue();
            assertThat(r.finish).isEqualTo(dev.quire.scheduler.engine.FinishReason.ABORTED);
            stalled.call.request(Integer.MAX_VALUE);
            assertThat(stalled.closed.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(stalled.status.getCode()).isEqualTo(Status.Code.CANCELLED);

            // A client that reads is served as usual.
            List<GenerateResponse> got = new ArrayList<>();
            InferenceGrpc.newBlockingStub(okChannel).withDeadlineAfter(60, TimeUnit.SECONDS)
                    .generate(request("reads", 500, 0)).forEachRemaining(got::add);
            assertComplete(got, 500, 0);
        } finally {
            slowChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            okChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aClientThatKeepsUpGetsEachTokenAtOnceInItsOwnMessage() {
        // The engine emits each token only once the client holds the one before: any coalescing
        // that waited for a later token would never deliver, and the deadline would fail the test.
        int n = 30;
        engine.gate("lockstep");
        Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS)
                .generate(request("lockstep", n, 0));
        CountingEngine.Running r = engine.running("lockstep");
        List<GenerateResponse> got = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            r.permits.release();
            GenerateResponse m = it.next();
            assertThat(m.getTokenIdsList()).containsExactly(i);
            got.add(m);
        }
        got.add(it.next());
        assertThat(it.hasNext()).isFalse();
        assertComplete(got, n, 0);
    }

    /** Tokens 0..n-1 in order, each once, with their text and logprobs, cumulative usage, then the final chunk. */
    static void assertComplete(List<GenerateResponse> messages, int n, int logprobs) {
        assertThat(messages).isNotEmpty();
        List<Integer> ids = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        List<TokenLogprob> lps = new ArrayList<>();
        for (GenerateResponse m : messages.subList(0, messages.size() - 1)) {
            assertThat(m.getTokenIdsCount()).isPositive();
            assertThat(m.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_UNSPECIFIED);
            ids.addAll(m.getTokenIdsList());
            text.append(m.getText());
            lps.addAll(m.getLogprobsList());
            assertThat(m.getUsage().getPromptTokens()).isEqualTo(1);
            assertThat(m.getUsage().getCompletionTokens()).as("cumulative usage").isEqualTo(ids.size());
        }
        List<Integer> expected = IntStream.range(0, n).boxed().toList();
        assertThat(ids).isEqualTo(expected);
        assertThat(text.toString()).isEqualTo(expected.stream().map(CountingEngine::text).collect(Collectors.joining()));
        if (logprobs > 0) {
            assertThat(lps).hasSize(n);
            for (int i = 0; i < n; i++) {
                assertThat(lps.get(i).getTokenId()).isEqualTo(i);
                assertThat(lps.get(i).getTopCount()).isEqualTo(logprobs);
            }
        } else {
            assertThat(lps).isEmpty();
        }
        GenerateResponse last = messages.get(messages.size() - 1);
        assertThat(last.getTokenIdsCount()).isZero();
        assertThat(last.getFinishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(last.getUsage().getPromptTokens()).isEqualTo(1);
        assertThat(last.getUsage().getCompletionTokens()).isEqualTo(n);
    }

    /** A streaming call whose client asks for one message, then for more only when the test says. */
    static final class ManualReader {
        final ClientCall<GenerateRequest, GenerateResponse> call;
        final ConcurrentLinkedQueue<GenerateResponse> messages = new ConcurrentLinkedQueue<>();
        final CountDownLatch firstMessage = new CountDownLatch(1);
        final CountDownLatch closed = new CountDownLatch(1);
        volatile Status status;

        ManualReader(ManagedChannel channel, GenerateRequest request) {
            call = channel.newCall(InferenceGrpc.getGenerateMethod(), CallOptions.DEFAULT);
            call.start(new ClientCall.Listener<>() {
                @Override
                public void onMessage(GenerateResponse message) {
                    messages.add(message);
                    firstMessage.countDown();
                }

                @Override
                public void onClose(Status s, Metadata trailers) {
                    status = s;
                    closed.countDown();
                }
            }, new Metadata());
            call.sendMessage(request);
            call.halfClose();
            call.request(1);
        }
    }

    /** A streaming call that reads as fast as it can. */
    static final class Collector implements StreamObserver<GenerateResponse> {
        final List<GenerateResponse> messages = new ArrayList<>();
        final CountDownLatch done = new CountDownLatch(1);
        volatile Throwable error;

        @Override
        public synchronized void onNext(GenerateResponse value) {
            messages.add(value);
        }

        @Override
        public void onError(Throwable t) {
            error = t;
            done.countDown();
        }

        @Override
        public void onCompleted() {
            done.countDown();
        }
    }

    /**
     * An engine with no model: each step gives every running request its next token, whose id is
     * its index, as fast as the engine thread goes (never waiting for a client). A gated request
     * gets a token only per permit the test releases.
     */
    static final class CountingEngine implements InferenceEngine {
        final ModelInfo model = TestModels.model("counting", 1 << 24);
        final ConcurrentLinkedQueue<Running> arrivals = new ConcurrentLinkedQueue<>();
        final Map<String, Running> byId = new ConcurrentHashMap<>();
        final Map<String, Boolean> gated = new ConcurrentHashMap<>();
        final Thread thread = new Thread(this::loop, "counting-engine");
        volatile boolean closed;

        static final class Running {
            final GenerationRequest request;
            final GenerationListener listener;
            /** Null when the request runs freely. */
            final Semaphore permits;
            final CountDownLatch finished = new CountDownLatch(1);
            volatile boolean cancelled;
            volatile dev.quire.scheduler.engine.FinishReason finish;
            int emitted;

            Running(GenerationRequest request, GenerationListener listener, Semaphore permits) {
                this.request = request;
                this.listener = listener;
                this.permits = permits;
            }
        }

        CountingEngine() {
            thread.setDaemon(true);
            thread.start();
        }

        static String text(int token) {
            return token + ",";
        }

        void gate(String requestId) {
            gated.put(requestId, true);
        }

        Running running(String requestId) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            Running r;
            while ((r = byId.get(requestId)) == null && System.nanoTime() < deadline) {
                LockSupport.parkNanos(1_000_000);
            }
            assertThat(r).as("request %s reached the engine", requestId).isNotNull();
            return r;
        }

        @Override
        public ModelInfo model() {
            return model;
        }

        @Override
        public TextCodec text() {
            return TestModels.BYTES;
        }

        @Override
        public SchedulerStats stats() {
            return new SchedulerStats(byId.size(), arrivals.size(), 0, 1, 0, 0, 0, 0, 0);
        }

        @Override
        public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
            Running r = new Running(request, listener,
                    gated.containsKey(request.requestId()) ? new Semaphore(0) : null);
            byId.put(request.requestId(), r);
            arrivals.add(r);
            return RequestHandle.of(request.requestId(), () -> r.cancelled = true);
        }

        private void loop() {
            List<Running> running = new ArrayList<>();
            while (!closed) {
                Running arrival;
                while ((arrival = arrivals.poll()) != null) {
                    arrival.listener.onScheduled();
                    running.add(arrival);
                }
                for (Iterator<Running> it = running.iterator(); it.hasNext(); ) {
                    Running r = it.next();
                    int prompt = r.request.promptTokenIds().length;
                    if (r.cancelled) {
                        it.remove();
                        end(r, dev.quire.scheduler.engine.FinishReason.ABORTED, prompt);
                        continue;
                    }
                    if (r.permits != null && !r.permits.tryAcquire()) {
                        continue;
                    }
                    int token = r.emitted++;
                    int k = r.request.sampling().logprobs();
                    TokenLogprobs[] lps = null;
                    if (k > 0) {
                        int[] top = new int[k];
                        float[] topLogprobs = new float[k];
                        for (int j = 0; j < k; j++) {
                            top[j] = token + j;
                            topLogprobs[j] = -j - 0.5f;
                        }
                        lps = new TokenLogprobs[]{new TokenLogprobs(token, -0.5f, top, topLogprobs)};
                    }
                    r.listener.onTokens(new int[]{token}, text(token), lps);
                    if (r.emitted >= r.request.sampling().maxTokens()) {
                        it.remove();
                        end(r, dev.quire.scheduler.engine.FinishReason.LENGTH, prompt);
                    }
                }
                LockSupport.parkNanos(running.isEmpty() ? 200_000 : 20_000);
            }
        }

        private static void end(Running r, dev.quire.scheduler.engine.FinishReason reason, int prompt) {
            r.finish = reason;
            r.listener.onFinish(reason, prompt, r.emitted);
            r.finished.countDown();
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}
