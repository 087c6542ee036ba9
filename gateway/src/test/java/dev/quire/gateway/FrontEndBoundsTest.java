package dev.quire.gateway;

import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.admission.ConnectionLimits;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.openai.Http;
import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.proto.v1.DetokenizeRequest;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.ListModelsRequest;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.proto.v1.TokenizeRequest;
import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.TextCodec;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The public ports' bounds on what a client may cost before its request is admitted: the API key
 * checked on a call's headers, compressed messages inflated within the size limit, streams per
 * connection, connections, idle connections, and text work (tokenizing, rendering) in flight.
 */
class FrontEndBoundsTest {
    static final String KEY = "front-end-key";

    final Vertx vertx = Vertx.vertx();
    final HeldEngine engine = new HeldEngine();
    final List<GatewayServer> servers = new ArrayList<>();
    final List<ManagedChannel> channels = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        engine.openTextGate();
        for (ManagedChannel c : channels) {
            c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        for (GatewayServer s : servers) {
            s.close();
        }
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    GatewayServer start(AdmissionLimits limits, ApiKeys keys) throws Exception {
        GatewayMetrics metrics = new GatewayMetrics();
        RequestDispatcher dispatcher = new RequestDispatcher(vertx, new ModelCatalog().add(engine),
                new AdmissionController(keys, limits), metrics, new AccessLog(false));
        GatewayServer server = GatewayServer.start(vertx, dispatcher, metrics, "127.0.0.1", 0, 0);
        servers.add(server);
        return server;
    }

    ManagedChannel channel(GatewayServer server) {
        ManagedChannel c = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        channels.add(c);
        return c;
    }

    static GenerateRequest tokenRequest(String id) {
        return GenerateRequest.newBuilder().setRequestId(id).setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(4)).build();
    }

    static Metadata withKey(String key) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
        return headers;
    }

    /** Starts a call with {@code headers} and sends no message: the status it ends with, if any within 10 s. */
    static <Q, R> Status statusWithoutMessage(ManagedChannel channel, MethodDescriptor<Q, R> method,
                                              Metadata headers) throws Exception {
        // grpc-java sends the headers of a call whose client sends one message only with that
        // message; as a streaming call they go at once (the server cannot tell the difference).
        ClientCall<Q, R> call = channel.newCall(method.toBuilder().setType(MethodDescriptor.MethodType.BIDI_STREAMING)
                .build(), CallOptions.DEFAULT);
        CompletableFuture<Status> closed = new CompletableFuture<>();
        call.start(new ClientCall.Listener<>() {
            @Override
            public void onClose(Status status, Metadata trailers) {
                closed.complete(status);
            }
        }, headers);
        call.request(1);
        try {
            return closed.get(10, TimeUnit.SECONDS);
        } finally {
            call.cancel("test over", null);
        }
    }

    @Test
    void aCallWithoutAValidKeyIsRefusedOnItsHeadersWithoutSendingItsMessage() throws Exception {
        GatewayServer server = start(AdmissionLimits.defaults(), ApiKeys.of(List.of(KEY)));
        ManagedChannel channel = channel(server);
        for (MethodDescriptor<?, ?> method : List.of(InferenceGrpc.getGenerateMethod(),
                InferenceGrpc.getCompleteMethod(), InferenceGrpc.getTokenizeMethod(),
                InferenceGrpc.getDetokenizeMethod(), InferenceGrpc.getListModelsMethod(),
                InferenceGrpc.getAbortMethod())) {
            assertThat(statusWithoutMessage(channel, method, new Metadata()).getCode())
                    .as("%s without a key", method.getFullMethodName()).isEqualTo(Status.Code.UNAUTHENTICATED);
            assertThat(statusWithoutMessage(channel, method, withKey("not-" + KEY)).getCode())
                    .as("%s with a wrong key", method.getFullMethodName()).isEqualTo(Status.Code.UNAUTHENTICATED);
        }
        assertThat(engine.submitted).isEmpty();
        // With the key, calls go through as before.
        InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(withKey(KEY)))
                .withDeadlineAfter(10, TimeUnit.SECONDS);
        assertThat(stub.listModels(ListModelsRequest.getDefaultInstance()).getModelsList()).hasSize(1);
        assertThat(stub.tokenize(TokenizeRequest.newBuilder().setText("hi").build()).getTokenIdsList())
                .containsExactly((int) 'h', (int) 'i');
    }

    @Test
    void aGzipMessageThatInflatesPastTheLimitIsRefusedAndTheServerCarriesOn() throws Exception {
        int limit = 4 << 20;
        GatewayServer server = start(AdmissionLimits.defaults(), ApiKeys.none());
        assertThat(AdmissionLimits.defaults().maxRequestBytes()).isEqualTo(limit);
        InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel(server));
        // 64 MiB of one letter: about 64 KiB on the wire once compressed, well under the limit.
        GenerateRequest bomb = GenerateRequest.newBuilder().setPrompt("a".repeat(64 << 20))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(1)).build();
        long start = System.nanoTime();
        assertThatThrownBy(() -> stub.withCompression("gzip").withDeadlineAfter(60, TimeUnit.SECONDS).complete(bomb))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
                    assertThat(e.getStatus().getDescription()).contains(Integer.toString(limit));
                });
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        assertThat(engine.submitted).isEmpty();
        assertThat(engine.textCalls.get()).as("nothing was tokenized").isZero();

        // The server still answers, compressed messages within the limit included.
        InferenceGrpc.InferenceBlockingStub zipped = stub.withCompression("gzip").withDeadlineAfter(10, TimeUnit.SECONDS);
        String text = "b".repeat(100_000);
        assertThat(zipped.tokenize(TokenizeRequest.newBuilder().setText(text).build()).getTokenIdsCount())
                .isEqualTo(text.length());
        assertThat(stub.withDeadlineAfter(10, TimeUnit.SECONDS).listModels(ListModelsRequest.getDefaultInstance())
                .getModelsCount()).isEqualTo(1);
        // Services that Vert.x decodes itself take no compressed message at all.
        HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channels.get(0))
                .withDeadlineAfter(10, TimeUnit.SECONDS);
        assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus())
                .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        assertThatThrownBy(() -> health.withCompression("gzip").check(HealthCheckRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNIMPLEMENTED));
    }

    @Test
    void callsBeyondTheStreamsPerConnectionBoundWaitForAStreamToEnd() throws Exception {
        GatewayServer server = start(AdmissionLimits.defaults().withConnections(
                new ConnectionLimits(2, 100, Duration.ZERO)), ApiKeys.none());
        ManagedChannel channel = channel(server);
        List<CompletableFuture<Status>> closed = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ClientCall<GenerateRequest, GenerateResponse> call = channel.newCall(InferenceGrpc.getGenerateMethod(),
                    CallOptions.DEFAULT);
            CompletableFuture<Status> end = new CompletableFuture<>();
            call.start(new ClientCall.Listener<>() {
                @Override
                public void onClose(Status status, Metadata trailers) {
                    end.complete(status);
                }
            }, new Metadata());
            call.sendMessage(tokenRequest("stream-" + i));
            call.halfClose();
            call.request(Integer.MAX_VALUE);
            closed.add(end);
        }
        awaitTrue(() -> engine.submitted.size() >= 2, "two streams reached the engine");
        Thread.sleep(500);
        assertThat(engine.submitted).as("the third stream waits for a free one").hasSize(2);
        // The connection's streams reach the engine in no set order: whichever two came first run.
        List<Integer> running = engine.submitted.stream()
                .map(r -> Integer.parseInt(r.requestId().substring("stream-".length()))).toList();
        int waiting = 0 + 1 + 2 - running.get(0) - running.get(1);
        assertThat(closed.get(waiting)).isNotDone();

        engine.finish("stream-" + running.get(0));
        assertThat(closed.get(running.get(0)).get(10, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.OK);
        awaitTrue(() -> engine.submitted.size() == 3, "the third stream started once the first ended");
        assertThat(engine.submitted.get(2).requestId()).isEqualTo("stream-" + waiting);
        assertThat(closed.get(waiting)).isNotDone();
    }

    @Test
    void connectionsIdleForTheIdleTimeoutAreClosed() throws Exception {
        GatewayServer server = start(AdmissionLimits.defaults().withConnections(
                new ConnectionLimits(100, 100, Duration.ofMillis(300))), ApiKeys.none());
        // A connection that never sends a byte, on either port.
        for (int port : new int[]{server.grpcPort(), server.httpPort()}) {
            try (Socket socket = new Socket("127.0.0.1", port)) {
                socket.setSoTimeout(10_000);
                long start = System.nanoTime();
                assertThat(bytesBeforeClose(socket)).as("port %d closed the idle connection", port)
                        .isGreaterThanOrEqualTo(0);
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(250));
            }
        }
        // A gRPC channel whose last call has ended.
        ManagedChannel channel = channel(server);
        assertThat(InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .listModels(ListModelsRequest.getDefaultInstance()).getModelsCount()).isEqualTo(1);
        assertThat(channel.getState(false)).isEqualTo(ConnectivityState.READY);
        awaitTrue(() -> channel.getState(false) != ConnectivityState.READY, "the idle gRPC connection was closed");
    }

    @Test
    void connectionsBeyondTheLimitAreClosedAtOnce() throws Exception {
        GatewayServer server = start(AdmissionLimits.defaults().withConnections(
                new ConnectionLimits(100, 2, Duration.ZERO)), ApiKeys.none());
        Socket first = new Socket("127.0.0.1", server.httpPort());
        Socket second = new Socket("127.0.0.1", server.httpPort());
        try (first; second) {
            assertThat(health(first)).isEqualTo("HTTP/1.1 200 OK");
            assertThat(health(second)).isEqualTo("HTTP/1.1 200 OK");
            try (Socket third = new Socket("127.0.0.1", server.httpPort())) {
                third.setSoTimeout(10_000);
                try {
                    third.getOutputStream().write("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
                } catch (IOException e) {
                    // already closed
                }
                assertThat(bytesBeforeClose(third)).as("the third connection was closed unanswered").isZero();
            }
            // The limit counts both ports. The server closes the connection with a GOAWAY before any
            // stream; grpc-java retries that transparently a few times, then fails the call as
            // UNAVAILABLE or, once out of retries, INTERNAL.
            assertThatThrownBy(() -> InferenceGrpc.newBlockingStub(channel(server))
                    .withDeadlineAfter(10, TimeUnit.SECONDS).listModels(ListModelsRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).as(e.getStatus().toString())
                                    .isIn(Status.Code.UNAVAILABLE, Status.Code.INTERNAL));
            // The open ones carry on.
            assertThat(health(first)).isEqualTo("HTTP/1.1 200 OK");
        }
        // Once one closes, a new connection is served.
        awaitTrue(() -> {
            try (Socket again = new Socket("127.0.0.1", server.httpPort())) {
                again.setSoTimeout(5_000);
                return "HTTP/1.1 200 OK".equals(health(again));
            } catch (IOException e) {
                return false;
            }
        }, "a connection is served once others have closed");
    }

    @Test
    void textWorkBeyondTheBoundIsRefusedAtOnceWith429() throws Exception {
        engine.closeTextGate();
        GatewayServer server = start(AdmissionLimits.defaults().withMaxTextJobs(2), ApiKeys.none());
        String completion = "{\"model\":\"held\",\"prompt\":\"hello\",\"max_tokens\":1}";
        // Two prompts take both places, stuck in the tokenizer.
        List<CompletableFuture<Http.Reply>> stuck = new ArrayList<>();
        ExecutorService clients = Executors.newFixedThreadPool(2);
        for (int i = 0; i < 2; i++) {
            stuck.add(CompletableFuture.supplyAsync(() -> Http.post(server.httpPort(), "/v1/completions", completion),
                    clients));
        }
        awaitTrue(() -> engine.textCalls.get() == 2, "two prompts are being tokenized");

        long start = System.nanoTime();
        Http.Reply refused = Http.post(server.httpPort(), "/v1/completions", completion);
        assertThat(refused.status()).isEqualTo(429);
        assertThat(refused.header("retry-after")).isEqualTo("1");
        assertThat(refused.error().get("code").asText()).isEqualTo("server_overloaded");
        Http.Reply chat = Http.post(server.httpPort(), "/v1/chat/completions",
                "{\"model\":\"held\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1}");
        assertThat(chat.status()).as(chat.body()).isEqualTo(429);
        InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel(server))
                .withDeadlineAfter(10, TimeUnit.SECONDS);
        for (Runnable call : List.<Runnable>of(
                () -> stub.tokenize(TokenizeRequest.newBuilder().setText("hi").build()),
                () -> stub.detokenize(DetokenizeRequest.newBuilder().addTokenIds(104).build()),
                () -> stub.complete(GenerateRequest.newBuilder().setPrompt("hi")
                        .setSampling(SamplingParams.newBuilder().setMaxTokens(1)).build()))) {
            assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class,
                    e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED));
        }
        assertThat(Duration.ofNanos(System.nanoTime() - start)).as("refused without waiting")
                .isLessThan(Duration.ofSeconds(5));
        assertThat(engine.textCalls.get()).as("nothing more reached the tokenizer").isEqualTo(2);
        // A prompt given as token ids needs no text work.
        InferenceGrpc.newStub(channels.get(0)).generate(tokenRequest("ids"), new io.grpc.stub.StreamObserver<>() {
            @Override
            public void onNext(GenerateResponse value) {
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
        });
        awaitTrue(() -> engine.submitted.stream().anyMatch(r -> r.requestId().equals("ids")),
                "a token-id prompt was admitted");

        // The places free up as the work ends.
        engine.openTextGate();
        awaitTrue(() -> engine.submitted.size() == 3, "the two stuck prompts were admitted");
        engine.finishAll();
        for (CompletableFuture<Http.Reply> r : stuck) {
            assertThat(r.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
        }
        clients.shutdown();
        assertThat(stub.withDeadlineAfter(10, TimeUnit.SECONDS)
                .tokenize(TokenizeRequest.newBuilder().setText("hi").build()).getTokenIdsCount()).isEqualTo(2);
    }

    /** Sends {@code GET /health} on a kept-alive connection; its status line. */
    static String health(Socket socket) throws IOException {
        socket.setSoTimeout(10_000);
        OutputStream out = socket.getOutputStream();
        out.write("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII));
        String status = in.readLine();
        int length = 0;
        for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
            if (line.toLowerCase().startsWith("content-length:")) {
                length = Integer.parseInt(line.substring("content-length:".length()).strip());
            }
        }
        for (int i = 0; i < length; i++) {
            in.read();
        }
        return status;
    }

    /**
     * Reads {@code socket} until the server closes it (end of stream or reset): the bytes it sent
     * meanwhile (a GOAWAY, say), or -1 when the read timed out first.
     */
    static int bytesBeforeClose(Socket socket) {
        int n = 0;
        try {
            while (socket.getInputStream().read() >= 0) {
                n++;
            }
            return n;
        } catch (java.net.SocketTimeoutException e) {
            return -1;
        } catch (IOException e) {
            return n; // reset
        }
    }

    static void awaitTrue(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as(what).isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    /**
     * Holds every request it is given until cancelled or {@link #finishAll}; its tokenizer (bytes,
     * as {@link TestModels#BYTES}) blocks while the test keeps its gate closed.
     */
    static final class HeldEngine implements InferenceEngine {
        final ModelInfo model = TestModels.model("held", 1 << 20);
        final List<GenerationRequest> submitted = new CopyOnWriteArrayList<>();
        final Map<String, Runnable> finishers = new ConcurrentHashMap<>();
        final AtomicInteger textCalls = new AtomicInteger();
        volatile CountDownLatch textGate = new CountDownLatch(0);

        void closeTextGate() {
            textGate = new CountDownLatch(1);
        }

        void openTextGate() {
            textGate.countDown();
        }

        void finishAll() {
            finishers.values().forEach(Runnable::run);
        }

        void finish(String requestId) {
            finishers.get(requestId).run();
        }

        private void pass() {
            textCalls.incrementAndGet();
            try {
                textGate.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public ModelInfo model() {
            return model;
        }

        @Override
        public TextCodec text() {
            return new TextCodec() {
                @Override
                public int[] encode(String text, boolean addSpecialTokens) {
                    pass();
                    return TestModels.BYTES.encode(text, addSpecialTokens);
                }

                @Override
                public String decode(int[] ids, boolean skipSpecialTokens) {
                    pass();
                    return TestModels.BYTES.decode(ids, skipSpecialTokens);
                }
            };
        }

        @Override
        public SchedulerStats stats() {
            return new SchedulerStats(0, submitted.size(), 0, 1, 0, 0, 0, 0, 0);
        }

        @Override
        public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
            submitted.add(request);
            java.util.concurrent.atomic.AtomicBoolean over = new java.util.concurrent.atomic.AtomicBoolean();
            int prompt = request.promptTokenIds().length;
            finishers.put(request.requestId(), () -> {
                if (over.compareAndSet(false, true)) {
                    listener.onFinish(FinishReason.LENGTH, prompt, 0);
                }
            });
            return RequestHandle.of(request.requestId(), () -> {
                if (over.compareAndSet(false, true)) {
                    listener.onFinish(FinishReason.ABORTED, prompt, 0);
                }
            });
        }

        @Override
        public void close() {
        }
    }
}
