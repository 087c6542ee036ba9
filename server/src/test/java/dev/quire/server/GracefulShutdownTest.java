package dev.quire.server;

import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.worker.engine.EngineConfig;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Draining: readiness goes false, new requests are refused, running ones finish, then the server stops; and when the
 * drain timeout runs out first, what still runs is aborted with its final chunk. The engine is held after a step by
 * the test, not by a generation's length, so what runs during the drain is known.
 */
class GracefulShutdownTest {
    static final Path MODEL = Path.of("../models/stories260K");

    /**
     * Holds the engine thread after each step while {@code held} is set, until the engine is stopped: a generation
     * stays in flight for as long as the test wants it.
     */
    static final class EngineGate {
        final AtomicBoolean held = new AtomicBoolean(true);
        final CountDownLatch stalled = new CountDownLatch(1);

        EngineGate(AllInOneServer server) {
            server.engine().onStep(r -> {
                while (held.get() && server.engine().health().alive()) {
                    stalled.countDown();
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
            });
        }

        void release() {
            held.set(false);
        }
    }

    static GenerateRequest tokens300() {
        return GenerateRequest.newBuilder()
                .setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(300).setTemperature(0f).setIgnoreEos(true))
                .build();
    }

    /** Reads a stream to its end in the background: tokens received and the last chunk's finish reason. */
    static CompletableFuture<int[]> readAll(InferenceGrpc.InferenceBlockingStub stub, CountDownLatch firstChunk) {
        return CompletableFuture.supplyAsync(() -> {
            Iterator<GenerateResponse> it = stub.generate(tokens300());
            int tokens = 0;
            FinishReason last = null;
            while (it.hasNext()) {
                GenerateResponse r = it.next();
                tokens += r.getTokenIdsCount();
                last = r.getFinishReason();
                firstChunk.countDown();
            }
            return new int[]{tokens, last.getNumber()};
        });
    }

    static CompletableFuture<Void> drainAsync(AllInOneServer server, Duration timeout) {
        return CompletableFuture.runAsync(() -> {
            try {
                server.drainAndClose(timeout);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    static void awaitDraining(AllInOneServer server) throws InterruptedException {
        long until = System.currentTimeMillis() + 10_000;
        while (!server.dispatcher().admission().draining() && System.currentTimeMillis() < until) {
            Thread.sleep(1);
        }
        assertThat(server.dispatcher().admission().draining()).isTrue();
    }

    @Test
    void drainLetsRunningStreamsFinishAndRefusesNewOnes() throws Exception {
        AllInOneServer server = AllInOneServer.start(AllInOneServer.Options.local(MODEL,
                EngineConfig.defaults().withKvCacheBytes(32L << 20)));
        EngineGate gate = new EngineGate(server);
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        try {
            InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel);
            HttpClient http = HttpClient.newHttpClient();
            URI ready = URI.create("http://127.0.0.1:" + server.httpPort() + "/ready");
            assertThat(http.send(HttpRequest.newBuilder(ready).build(), HttpResponse.BodyHandlers.ofString())
                    .statusCode()).isEqualTo(200);

            CountDownLatch streaming = new CountDownLatch(1);
            CompletableFuture<int[]> inFlight = readAll(stub, streaming);
            // The stream has its first chunk and the engine is held: it cannot finish before the drain starts.
            assertThat(streaming.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(gate.stalled.await(30, TimeUnit.SECONDS)).isTrue();

            CompletableFuture<Void> drained = drainAsync(server, Duration.ofSeconds(120));
            awaitDraining(server);
            HttpResponse<String> notReady = http.send(HttpRequest.newBuilder(ready).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(notReady.statusCode()).isEqualTo(503);
            assertThat(notReady.body()).contains("draining");
            assertThat(HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.getDefaultInstance()).getStatus())
                    .isEqualTo(HealthCheckResponse.ServingStatus.NOT_SERVING);
            assertThatThrownBy(() -> stub.complete(GenerateRequest.newBuilder().setPrompt("Once")
                    .setSampling(SamplingParams.newBuilder().setMaxTokens(2)).build()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
            assertThat(drained).as("the drain waits for the running stream").isNotDone();
            assertThat(server.dispatcher().liveRequests()).isEqualTo(1);

            gate.release();
            int[] result = inFlight.get(60, TimeUnit.SECONDS);
            assertThat(result[0]).as("the running stream got all its tokens").isEqualTo(300);
            assertThat(result[1]).isEqualTo(FinishReason.LENGTH_VALUE);
            drained.get(60, TimeUnit.SECONDS);
        } finally {
            gate.release();
            channel.shutdownNow();
        }
    }

    @Test
    void whenTheDrainTimeoutRunsOutWhatStillRunsIsAbortedWithItsFinalChunk() throws Exception {
        AllInOneServer server = AllInOneServer.start(AllInOneServer.Options.local(MODEL,
                EngineConfig.defaults().withKvCacheBytes(32L << 20)));
        // Held until the engine is stopped: the stream cannot finish within any drain timeout.
        EngineGate gate = new EngineGate(server);
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        try {
            InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel);
            CountDownLatch streaming = new CountDownLatch(1);
            CompletableFuture<int[]> inFlight = readAll(stub, streaming);
            assertThat(streaming.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(gate.stalled.await(30, TimeUnit.SECONDS)).isTrue();
            // An OpenAI stream too, submitted while the engine is held: it waits in the engine's queue.
            CompletableFuture<HttpResponse<String>> sse = HttpClient.newHttpClient().sendAsync(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + server.httpPort() + "/v1/completions"))
                    .header("content-type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":[1],\"max_tokens\":300,"
                            + "\"ignore_eos\":true,\"stream\":true}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            // Admitted, not only registered: a request still in its ledger claim when the drain starts
            // is refused (503), since it was never accepted.
            long until = System.currentTimeMillis() + 30_000;
            while (server.dispatcher().admission().inFlight() < 2 && System.currentTimeMillis() < until) {
                Thread.sleep(1);
            }
            assertThat(server.dispatcher().admission().inFlight()).isEqualTo(2);

            drainAsync(server, Duration.ofMillis(200)).get(60, TimeUnit.SECONDS);

            int[] result = inFlight.get(60, TimeUnit.SECONDS);
            assertThat(result[1]).as("the stream's last chunk says it was aborted").isEqualTo(FinishReason.ABORTED_VALUE);
            assertThat(result[0]).as("tokens before the abort").isBetween(1, 299);
            HttpResponse<String> events = sse.get(60, TimeUnit.SECONDS);
            assertThat(events.statusCode()).isEqualTo(200);
            assertThat(events.body()).as(events.body()).contains("\"finish_reason\":\"abort\"")
                    .endsWith("data: [DONE]\n\n");
            assertThat(server.dispatcher().liveRequests()).isZero();
            assertThat(server.engine().health().alive()).isFalse();
        } finally {
            gate.release();
            channel.shutdownNow();
        }
    }
}
