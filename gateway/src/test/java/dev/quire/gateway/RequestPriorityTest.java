package dev.quire.gateway;

import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.admission.PriorityPolicy;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.RequestHandle;
import io.grpc.CallCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The priority a client asks for, over gRPC and OpenAI HTTP, is the one the engine receives, within its key's bounds. */
class RequestPriorityTest {
    /** Records each request and finishes it at once, off the calling thread as a real engine would. */
    static final class RecordingEngine extends TestModels.StubEngine {
        RecordingEngine() {
            super("recording");
        }
        final List<GenerationRequest> submitted = new CopyOnWriteArrayList<>();

        @Override
        public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
            submitted.add(request);
            new Thread(() -> listener.onFinish(FinishReason.LENGTH, request.promptTokenIds().length, 0)).start();
            return RequestHandle.of(request.requestId(), () -> { });
        }

        @Override
        public void close() {
        }
    }

    static final RecordingEngine ENGINE = new RecordingEngine();
    static Vertx vertx;
    static GatewayServer server;
    static ManagedChannel channel;
    static InferenceGrpc.InferenceBlockingStub plain;
    static InferenceGrpc.InferenceBlockingStub urgent;

    @BeforeAll
    static void start() throws Exception {
        Path keys = Files.createTempFile("quire-keys", ".txt");
        Files.writeString(keys, "plain-key\nurgent-key priority=-10 min-priority=-20\n");
        vertx = Vertx.vertx();
        GatewayMetrics metrics = new GatewayMetrics();
        // The server's own policy: default 5, nothing more urgent than 0.
        AdmissionController admission = new AdmissionController(ApiKeys.of(List.of(), keys),
                AdmissionLimits.defaults().withPriority(new PriorityPolicy(5, 0)));
        Files.delete(keys);
        RequestDispatcher dispatcher = new RequestDispatcher(vertx, new ModelCatalog().add(ENGINE), admission, metrics,
                new AccessLog(false));
        server = GatewayServer.start(vertx, dispatcher, metrics, "127.0.0.1", 0, 0);
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        plain = InferenceGrpc.newBlockingStub(channel).withCallCredentials(bearer("plain-key"));
        urgent = InferenceGrpc.newBlockingStub(channel).withCallCredentials(bearer("urgent-key"));
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    @BeforeEach
    void clear() {
        ENGINE.submitted.clear();
    }

    static CallCredentials bearer(String key) {
        return new CallCredentials() {
            @Override
            public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
                Metadata m = new Metadata();
                m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
                applier.apply(m);
            }
        };
    }

    static GenerateRequest.Builder grpcRequest() {
        return GenerateRequest.newBuilder().setPromptTokenIds(TokenIds.newBuilder().addIds(65))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(1));
    }

    static int lastPriority() {
        assertThat(ENGINE.submitted).isNotEmpty();
        return ENGINE.submitted.get(ENGINE.submitted.size() - 1).priority();
    }

    static HttpResponse<String> post(String path, String key, String body) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.httpPort() + path))
                .header("content-type", "application/json").header("authorization", "Bearer " + key)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void grpcPriorityReachesTheEngine() {
        plain.complete(grpcRequest().setPriority(7).build());
        assertThat(lastPriority()).isEqualTo(7);
        plain.generate(grpcRequest().setPriority(0).build()).forEachRemaining(r -> { });
        assertThat(lastPriority()).as("0 set explicitly").isEqualTo(0);
        plain.complete(grpcRequest().build());
        assertThat(lastPriority()).as("the server's default").isEqualTo(5);
        plain.complete(grpcRequest().setPriority(-3).build());
        assertThat(lastPriority()).as("raised to the server's minimum").isEqualTo(0);
        urgent.complete(grpcRequest().build());
        assertThat(lastPriority()).as("the key's default").isEqualTo(-10);
        urgent.complete(grpcRequest().setPriority(-50).build());
        assertThat(lastPriority()).as("raised to the key's minimum").isEqualTo(-20);
    }

    @Test
    void grpcPriorityOutOfRangeIsInvalidArgumentAndNeverReachesTheEngine() {
        assertThatThrownBy(() -> plain.complete(grpcRequest().setPriority(1001).build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).isEqualTo("priority: must be in [-1000, 1000], got 1001");
                });
        assertThat(ENGINE.submitted).isEmpty();
    }

    @Test
    void openAiPriorityReachesTheEngineOnBothEndpoints() throws Exception {
        assertThat(post("/v1/completions", "plain-key", "{\"prompt\": \"a\", \"max_tokens\": 1, \"priority\": 9}")
                .statusCode()).isEqualTo(200);
        assertThat(lastPriority()).isEqualTo(9);
        assertThat(post("/v1/completions", "plain-key", "{\"prompt\": [\"a\", \"b\"], \"max_tokens\": 1, "
                + "\"priority\": 8}").statusCode()).isEqualTo(200);
        assertThat(ENGINE.submitted).extracting(GenerationRequest::priority).containsExactly(9, 8, 8);
        assertThat(post("/v1/chat/completions", "plain-key", "{\"messages\": [{\"role\": \"user\", \"content\": "
                + "\"hi\"}], \"max_tokens\": 1, \"priority\": 4}").statusCode()).isEqualTo(200);
        assertThat(lastPriority()).isEqualTo(4);
        assertThat(post("/v1/chat/completions", "plain-key", "{\"messages\": [{\"role\": \"user\", \"content\": "
                + "\"hi\"}], \"max_tokens\": 1}").statusCode()).isEqualTo(200);
        assertThat(lastPriority()).as("the server's default").isEqualTo(5);
        assertThat(post("/v1/completions", "urgent-key", "{\"prompt\": \"a\", \"max_tokens\": 1, \"priority\": -999}")
                .statusCode()).isEqualTo(200);
        assertThat(lastPriority()).as("raised to the key's minimum").isEqualTo(-20);
    }

    @Test
    void openAiPriorityOfTheWrongTypeIsA400NamingIt() throws Exception {
        HttpResponse<String> r = post("/v1/chat/completions", "plain-key", "{\"messages\": [{\"role\": \"user\", "
                + "\"content\": \"hi\"}], \"priority\": \"high\"}");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("\"param\":\"priority\"").contains("priority: must be an integer, got a string");
        assertThat(ENGINE.submitted).isEmpty();
    }
}
