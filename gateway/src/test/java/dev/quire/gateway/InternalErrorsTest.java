package dev.quire.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.RequestHandle;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

/** An internal failure's detail stays in the server log; clients get a pointer to it by request id. */
class InternalErrorsTest {
    static final String SECRET = "/srv/models/llama/weights.bin";

    /** Prompt [1]: submit throws. Prompt [2]: accepted, then fails on the engine thread. */
    static final class FailingEngine extends TestModels.StubEngine {
        FailingEngine() {
            super("failing");
        }

        @Override
        public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
            if (request.promptTokenIds()[0] == 1) {
                throw new IllegalStateException("cannot map " + SECRET);
            }
            new Thread(() -> listener.onError(new RuntimeException("kernel failed reading " + SECRET))).start();
            return RequestHandle.of(request.requestId(), () -> { });
        }

        @Override
        public void close() {
        }
    }

    static Vertx vertx;
    static GatewayServer server;
    static ManagedChannel channel;
    static InferenceGrpc.InferenceBlockingStub stub;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        GatewayMetrics metrics = new GatewayMetrics();
        RequestDispatcher dispatcher = new RequestDispatcher(vertx, new ModelCatalog().add(new FailingEngine()),
                new AdmissionController(ApiKeys.none(), AdmissionLimits.defaults()), metrics, new AccessLog(false));
        server = GatewayServer.start(vertx, dispatcher, metrics, "127.0.0.1", 0, 0);
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        stub = InferenceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    static GenerateRequest request(String id, int token) {
        return GenerateRequest.newBuilder().setRequestId(id).setPromptTokenIds(TokenIds.newBuilder().addIds(token))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(4)).build();
    }

    static void assertInternal(Throwable error, String requestId) {
        assertThat(error).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
            assertThat(e.getStatus().getDescription())
                    .isEqualTo("internal error; see the server log, request id " + requestId);
        });
    }

    @Test
    void grpcClientsGetTheRequestIdNotTheDetail() {
        assertInternal(catchThrowable(() -> stub.complete(request("refused-1", 1))), "refused-1");
        assertInternal(catchThrowable(() -> stub.complete(request("failed-1", 2))), "failed-1");
        assertInternal(catchThrowable(() -> {
            Iterator<GenerateResponse> it = stub.generate(request("refused-2", 1));
            while (it.hasNext()) {
                it.next();
            }
        }), "refused-2");
        assertInternal(catchThrowable(() -> {
            Iterator<GenerateResponse> it = stub.generate(request("failed-2", 2));
            while (it.hasNext()) {
                it.next();
            }
        }), "failed-2");
    }

    @Test
    void openAiClientsGetTheCompletionIdNotTheDetail() throws Exception {
        for (int token : new int[]{1, 2}) {
            for (boolean stream : new boolean[]{false, true}) {
                HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + server.httpPort() + "/v1/completions"))
                        .header("content-type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"failing\", \"prompt\": [" + token
                                + "], \"max_tokens\": 4, \"stream\": " + stream + "}"))
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertThat(r.body()).doesNotContain(SECRET);
                String json = r.statusCode() == 200 ? r.body().substring(r.body().lastIndexOf("data: ") + 6) : r.body();
                JsonNode error = new ObjectMapper().readTree(json).get("error");
                assertThat(error.get("type").asText()).isEqualTo("server_error");
                assertThat(error.get("message").asText())
                        .matches("internal error; see the server log, request id cmpl-[0-9a-f]{32}");
            }
        }
    }
}
