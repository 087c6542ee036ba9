package dev.quire.server;

import dev.quire.gateway.openai.Http;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.worker.engine.EngineConfig;
import dev.quire.worker.engine.EngineFaults;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An error that kills the engine thread (out of memory, a broken native library) is visible at the
 * server: readiness turns false, gRPC health says NOT_SERVING, new requests get 503 / UNAVAILABLE,
 * and what they are told says why.
 */
class EngineDeathTest {
    private static final String WHY = "stopped after an internal error";

    @Test
    void anEngineThreadThatDiesMakesTheServerUnavailable() throws Exception {
        AllInOneServer server = AllInOneServer.start(AllInOneServer.Options.local(Path.of("../models/stories260K"),
                EngineConfig.defaults().withKvCacheBytes(32L << 20)));
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        try {
            int port = server.httpPort();
            InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(60, TimeUnit.SECONDS);
            HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(10, TimeUnit.SECONDS);
            assertThat(Http.get(port, "/ready").status()).isEqualTo(200);
            assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus())
                    .isEqualTo(ServingStatus.SERVING);
            assertThat(stub.complete(request("before", 2)).getTokenIdsCount()).isEqualTo(2);

            EngineFaults.failStepOf(server.engine(), "victim", new OutOfMemoryError("injected: no memory for a step"));
            // The request whose step dies is told, and why.
            assertThatThrownBy(() -> stub.complete(request("victim", 20)))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
                        assertThat(e.getStatus().getDescription()).contains(WHY);
                    });

            await(() -> Http.get(port, "/ready").status() == 503, "/ready turns 503");
            Http.Reply ready = Http.get(port, "/ready");
            assertThat(ready.status()).isEqualTo(503);
            assertThat(ready.json().get("status").asText()).isEqualTo("unavailable");
            assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus())
                    .isEqualTo(ServingStatus.NOT_SERVING);
            assertThat(health.check(HealthCheckRequest.newBuilder().setService("quire.v1.Inference").build())
                    .getStatus()).isEqualTo(ServingStatus.NOT_SERVING);
            assertThat(Http.get(port, "/health").status()).as("the process itself is alive").isEqualTo(200);

            // New requests are refused on both protocols, saying why.
            for (String body : new String[]{"{\"prompt\":\"Once upon\",\"max_tokens\":2}",
                    "{\"prompt\":\"Once upon\",\"max_tokens\":2,\"stream\":true}"}) {
                Http.Reply completion = Http.post(port, "/v1/completions", body);
                assertThat(completion.status()).as(completion.body()).isEqualTo(503);
                assertThat(completion.error().get("message").asText()).contains(WHY);
            }
            assertThatThrownBy(() -> stub.generate(request("after", 2)).forEachRemaining(r -> { }))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
                        assertThat(e.getStatus().getDescription()).contains(WHY);
                    });
            assertThat(server.dispatcher().liveRequests()).isZero();
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.close();
        }
    }

    private static GenerateRequest request(String id, int maxTokens) {
        return GenerateRequest.newBuilder().setRequestId(id)
                .setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(maxTokens).setTemperature(0f).setIgnoreEos(true))
                .build();
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime() < deadline).as(what).isTrue();
            Thread.sleep(10);
        }
    }
}
