package dev.quire.server;

import dev.quire.gateway.ClusterGateway;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.ledger.LedgerSettings;
import dev.quire.gateway.openai.Http;
import dev.quire.scheduler.cluster.ClusterSecret;
import dev.quire.scheduler.cluster.ClusterSettings;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.SamplingOptions;
import dev.quire.scheduler.engine.TokenLogprobs;
import dev.quire.worker.engine.EngineConfig;
import dev.quire.worker.engine.EngineFaults;
import dev.quire.worker.engine.LlamaEngine;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A cluster gateway is ready while at least one ready worker serves a model, and not ready once none
 * does; text work sent meanwhile waits for a worker to join.
 */
class ClusterReadinessTest {

    @Test
    void theGatewayIsNotReadyOnceNoReadyWorkerServesAModel() throws Exception {
        String name = "readiness-" + UUID.randomUUID();
        int port = freePort();
        ClusterSecret secret = ClusterSecret.random();
        ClusterGateway gateway = ClusterGateway.start(new ClusterGateway.Options("127.0.0.1", 0, 0, ApiKeys.none(),
                AdmissionLimits.defaults(), false,
                new ClusterSettings(name, "127.0.0.1", port, List.of("127.0.0.1:" + port), false, null), secret,
                "least-loaded", 0.5, 16, LedgerSettings.DEFAULTS, false));
        WorkerProcess worker = null;
        WorkerProcess second = null;
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", gateway.grpcPort()).usePlaintext()
                .build();
        try {
            HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(10, TimeUnit.SECONDS);
            assertThat(Http.get(gateway.httpPort(), "/ready").json().get("status").asText()).isEqualTo("loading");
            assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus())
                    .isEqualTo(ServingStatus.NOT_SERVING);

            worker = WorkerProcess.start(new WorkerProcess.Options(Path.of("../models/stories260K"), null,
                    EngineConfig.defaults().withKvCacheBytes(32L << 20), 0, 0,
                    new ClusterSettings(name, "127.0.0.1", port + 1, List.of("127.0.0.1:" + port), true, null),
                    secret, null, Duration.ofSeconds(5)));
            await(() -> Http.get(gateway.httpPort(), "/ready").status() == 200, "the gateway turns ready");
            assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus())
                    .isEqualTo(ServingStatus.SERVING);

            // The worker's engine thread dies: its record says not_ready, and no other worker serves the model.
            LlamaEngine engine = (LlamaEngine) worker.engine();
            EngineFaults.failStepOf(engine, "victim", new OutOfMemoryError("injected: no memory for a step"));
            engine.submit(new GenerationRequest("victim", new int[]{1}, SamplingOptions.greedy(5)), new Ignored());
            await(() -> Http.get(gateway.httpPort(), "/ready").status() == 503, "the gateway turns not ready");
            assertThat(Http.get(gateway.httpPort(), "/ready").json().get("status").asText()).isEqualTo("unavailable");
            assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus())
                    .isEqualTo(ServingStatus.NOT_SERVING);

            // A text prompt now has no worker to tokenize it: it waits for one to join, as requests
            // wait in the queue, instead of failing at once (it did: 503 "no ready worker").
            java.util.concurrent.CompletableFuture<Http.Reply> waiting = java.util.concurrent.CompletableFuture
                    .supplyAsync(() -> Http.post(gateway.httpPort(), "/v1/completions",
                            "{\"prompt\": \"Once upon a time\", \"max_tokens\": 4}"));
            Thread.sleep(500);
            assertThat(waiting).as("still waiting for a worker").isNotDone();
            second = WorkerProcess.start(new WorkerProcess.Options(Path.of("../models/stories260K"), null,
                    EngineConfig.defaults().withKvCacheBytes(32L << 20), 0, 0,
                    new ClusterSettings(name, "127.0.0.1", port + 2, List.of("127.0.0.1:" + port), true, null),
                    secret, null, Duration.ofSeconds(5)));
            Http.Reply answered = waiting.get(60, TimeUnit.SECONDS);
            assertThat(answered.status()).as(answered.body()).isEqualTo(200);
            assertThat(answered.json().at("/usage/completion_tokens").asInt()).isEqualTo(4);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            if (worker != null) {
                worker.close();
            }
            if (second != null) {
                second.close();
            }
            gateway.close();
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime() < deadline).as(what).isTrue();
            Thread.sleep(20);
        }
    }

    private static final class Ignored implements GenerationListener {
        @Override
        public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
        }

        @Override
        public void onError(Throwable error) {
        }
    }
}
