package dev.quire.server;

import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.proto.v1.AbortRequest;
import dev.quire.proto.v1.CompleteResponse;
import dev.quire.proto.v1.DetokenizeRequest;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.worker.engine.EngineConfig;
import io.grpc.CallCredentials;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** gRPC operations through stock grpc-java clients: auth, health, reflection, abort, deadlines, cancellation. */
class GrpcOperationsTest {
    static AllInOneServer server;
    static ManagedChannel channel;
    static InferenceGrpc.InferenceBlockingStub alice;
    static InferenceGrpc.InferenceBlockingStub bob;
    static InferenceGrpc.InferenceBlockingStub anonymous;

    @BeforeAll
    static void start() throws Exception {
        server = AllInOneServer.start(AllInOneServer.Options.local(Path.of("../models/stories260K"),
                        EngineConfig.defaults().withKvCacheBytes(64L << 20))
                .withKeys(ApiKeys.of(List.of("alice-key", "bob-key")))
                .withLimits(AdmissionLimits.defaults()));
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        anonymous = InferenceGrpc.newBlockingStub(channel);
        alice = anonymous.withCallCredentials(bearer("alice-key"));
        bob = anonymous.withCallCredentials(bearer("bob-key"));
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
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

    static GenerateRequest longRequest(String id) {
        return GenerateRequest.newBuilder().setRequestId(id)
                .setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setTemperature(0f).setIgnoreEos(true))
                .build();
    }

    static String metrics() throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.httpPort() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    static double gauge(String text, String name) {
        return text.lines().filter(l -> l.startsWith(name + "{") || l.startsWith(name + " "))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst().orElse(-1);
    }

    @Test
    void callsWithoutAValidKeyAreUnauthenticated() {
        GenerateRequest request = longRequest("unauth").toBuilder()
                .setSampling(SamplingParams.newBuilder().setMaxTokens(2)).build();
        assertThatThrownBy(() -> anonymous.complete(request)).isInstanceOfSatisfying(StatusRuntimeException.class,
                e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
        assertThatThrownBy(() -> anonymous.withCallCredentials(bearer("mallory")).complete(request))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
        assertThat(alice.complete(request).getTokenIdsCount()).isEqualTo(2);
    }

    @Test
    void healthNeedsNoKeyAndReportsServing() {
        HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);
        assertThat(health.check(HealthCheckRequest.newBuilder().setService("").build()).getStatus())
                .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        assertThat(health.check(HealthCheckRequest.newBuilder().setService("quire.v1.Inference").build()).getStatus())
                .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }

    @Test
    void reflectionListsTheServices() throws Exception {
        CompletableFuture<List<String>> names = new CompletableFuture<>();
        StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(channel)
                .serverReflectionInfo(new StreamObserver<>() {
                    @Override
                    public void onNext(ServerReflectionResponse r) {
                        List<String> out = new ArrayList<>();
                        r.getListServicesResponse().getServiceList().forEach(s -> out.add(s.getName()));
                        names.complete(out);
                    }

                    @Override
                    public void onError(Throwable t) {
                        names.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        requests.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
        assertThat(names.get(10, TimeUnit.SECONDS)).contains("quire.v1.Inference", "grpc.health.v1.Health");
        requests.onCompleted();
    }

    @Test
    void completeAndDetokenize() {
        CompleteResponse r = alice.complete(GenerateRequest.newBuilder()
                .setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(8).setTemperature(0f).setLogprobs(3))
                .build());
        assertThat(r.getTokenIdsList()).containsExactly(403, 407, 261, 378, 432, 383, 286, 261);
        assertThat(r.getText()).startsWith("Once upon a time");
        assertThat(r.getFinishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.getLogprobsCount()).isEqualTo(8);
        assertThat(r.getLogprobs(0).getTopCount()).isEqualTo(3);
        assertThat(r.getLogprobs(0).getTop(0).getTokenId()).isEqualTo(403);
        assertThat(alice.detokenize(DetokenizeRequest.newBuilder().addAllTokenIds(r.getTokenIdsList()).build())
                .getText()).isEqualTo(r.getText());
        assertThatThrownBy(() -> alice.detokenize(DetokenizeRequest.newBuilder().addTokenIds(99999).build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT));
    }

    @Test
    void clientCancellationFreesTheKvBlocksWithinAStep() throws Exception {
        Context.CancellableContext context = Context.current().withCancellation();
        Iterator<GenerateResponse> stream = context.call(() -> alice.generate(longRequest("cancel-me")));
        for (int i = 0; i < 5; i++) {
            stream.next();
        }
        assertThat(gauge(metrics(), "quire_kv_cache_blocks_used")).isPositive();
        context.cancel(null);
        ServerAssertions.awaitIdle(server);
        assertThat(gauge(metrics(), "quire_kv_cache_blocks_used")).isZero();
        assertThat(metrics()).contains("quire_request_success_total{finished_reason=\"aborted\"");
    }

    @Test
    void deadlineAbortsTheSequence() throws Exception {
        assertThatThrownBy(() -> {
            Iterator<GenerateResponse> it = alice.withDeadlineAfter(300, TimeUnit.MILLISECONDS)
                    .generate(longRequest("deadline"));
            while (it.hasNext()) {
                it.next();
                Thread.sleep(5); // slow reader: the deadline passes mid-stream
            }
        }).isInstanceOfSatisfying(StatusRuntimeException.class,
                e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
        ServerAssertions.awaitIdle(server);
    }

    @Test
    void abortByRequestIdOnlyForTheKeyThatStartedIt() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CompletableFuture<FinishReason> finish = CompletableFuture.supplyAsync(() -> {
            Iterator<GenerateResponse> it = alice.generate(longRequest("lost-stream"));
            FinishReason last = null;
            while (it.hasNext()) {
                GenerateResponse r = it.next();
                started.countDown();
                last = r.getFinishReason();
            }
            return last;
        });
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(bob.abort(AbortRequest.newBuilder().setRequestId("lost-stream").build()).getAborted()).isFalse();
        assertThat(alice.abort(AbortRequest.newBuilder().setRequestId("lost-stream").build()).getAborted()).isTrue();
        assertThat(finish.get(10, TimeUnit.SECONDS)).isEqualTo(FinishReason.ABORTED);
        assertThat(alice.abort(AbortRequest.newBuilder().setRequestId("lost-stream").build()).getAborted()).isFalse();
        ServerAssertions.awaitIdle(server);
    }

    @Test
    void metricsMirrorVllmNames() throws Exception {
        alice.complete(GenerateRequest.newBuilder().setPrompt("Once upon")
                .setSampling(SamplingParams.newBuilder().setMaxTokens(4)).build());
        String text = metrics();
        assertThat(text).contains("quire_num_requests_running", "quire_num_requests_waiting",
                "quire_kv_cache_usage_perc", "quire_prefix_cache_queries_total", "quire_prefix_cache_hits_total",
                "quire_num_preemptions_total", "quire_prompt_tokens_total", "quire_generation_tokens_total",
                "quire_request_success_total{finished_reason=\"length\"",
                "quire_time_to_first_token_seconds_bucket", "quire_inter_token_latency_seconds_bucket",
                "quire_e2e_request_latency_seconds_bucket", "quire_request_queue_time_seconds_bucket");
        assertThat(gauge(text, "quire_generation_tokens_total")).isGreaterThanOrEqualTo(4);
    }

    @Test
    void requestIdsAreAtMost128PlainCharacters() {
        for (String bad : List.of("x".repeat(129), "two\nlines", "with space", "tab\t", "caf\u00e9", "esc\u001b[31m",
                "\u202egnp.exe")) {
            GenerateRequest request = longRequest(bad).toBuilder()
                    .setSampling(SamplingParams.newBuilder().setMaxTokens(1)).build();
            for (Runnable call : List.<Runnable>of(() -> alice.complete(request),
                    () -> alice.generate(request).forEachRemaining(r -> { }),
                    () -> alice.abort(AbortRequest.newBuilder().setRequestId(bad).build()))) {
                assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).startsWith("request_id: ").doesNotContain(bad);
                });
            }
        }
        String longest = "Az09._:-" + "x".repeat(120);
        CompleteResponse r = alice.complete(longRequest(longest).toBuilder()
                .setSampling(SamplingParams.newBuilder().setMaxTokens(2)).build());
        assertThat(r.getRequestId()).isEqualTo(longest);
        assertThat(alice.abort(AbortRequest.newBuilder().setRequestId(longest).build()).getAborted()).isFalse();
    }
}
