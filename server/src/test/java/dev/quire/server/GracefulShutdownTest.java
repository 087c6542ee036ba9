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

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Draining: readiness goes false, new requests are refused, running ones finish, then the server stops. */
class GracefulShutdownTest {

    @Test
    void drainLetsRunningStreamsFinishAndRefusesNewOnes() throws Exception {
        AllInOneServer server = AllInOneServer.start(AllInOneServer.Options.local(Path.of("../models/stories260K"),
                EngineConfig.defaults().withKvCacheBytes(32L << 20)));
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        try {
            InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel);
            HttpClient http = HttpClient.newHttpClient();
            URI ready = URI.create("http://127.0.0.1:" + server.httpPort() + "/ready");
            assertThat(http.send(HttpRequest.newBuilder(ready).build(), HttpResponse.BodyHandlers.ofString())
                    .statusCode()).isEqualTo(200);

            CountDownLatch streaming = new CountDownLatch(1);
            CompletableFuture<int[]> inFlight = CompletableFuture.supplyAsync(() -> {
                Iterator<GenerateResponse> it = stub.generate(GenerateRequest.newBuilder()
                        .setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                        .setSampling(SamplingParams.newBuilder().setMaxTokens(300).setTemperature(0f).setIgnoreEos(true))
                        .build());
                int tokens = 0;
                FinishReason last = null;
                while (it.hasNext()) {
                    GenerateResponse r = it.next();
                    tokens += r.getTokenIdsCount();
                    last = r.getFinishReason();
                    streaming.countDown();
                    try {
                        Thread.sleep(2); // a slowish reader keeps the stream running during the drain
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }
                return new int[]{tokens, last.getNumber()};
            });
            assertThat(streaming.await(10, TimeUnit.SECONDS)).isTrue();

            CompletableFuture<Void> drained = CompletableFuture.runAsync(() -> {
                try {
                    server.drainAndClose(Duration.ofSeconds(30));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            long until = System.currentTimeMillis() + 2000;
            while (!server.dispatcher().admission().draining() && System.currentTimeMillis() < until) {
                Thread.sleep(1);
            }
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

            int[] result = inFlight.get(60, TimeUnit.SECONDS);
            assertThat(result[0]).as("the running stream got all its tokens").isEqualTo(300);
            assertThat(result[1]).isEqualTo(FinishReason.LENGTH_VALUE);
            drained.get(60, TimeUnit.SECONDS);
        } finally {
            channel.shutdownNow();
        }
    }
}
