package dev.quire.server;

import dev.quire.proto.v1.AbortRequest;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.worker.engine.EngineConfig;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Priorities set through the public APIs order a real engine's queue: with room for one sequence,
 * a request submitted last with a lower (more urgent) number runs before earlier ones.
 */
class PrioritySchedulingTest {
    static final Path MODEL = Path.of("../models/stories260K");
    static final int MAX_TOKENS = 3;

    /**
     * The test paces the engine: after each step the engine thread waits for a permit, so the
     * blocker cannot finish (it would only stop at the context's end) before the queue is set up.
     */
    final Semaphore permits = new Semaphore(0);
    final AtomicBoolean paced = new AtomicBoolean(true);
    final AtomicLong steps = new AtomicLong();
    /** Tokens computed by each step, in order: a prefill step computes the whole prompt. */
    final List<Integer> stepTokens = new CopyOnWriteArrayList<>();

    @Test
    void aLaterMoreUrgentRequestIsScheduledBeforeEarlierLessUrgentOnes() throws Exception {
        // One sequence at a time; no prefix caching, so each prefill computes its whole prompt.
        EngineConfig oneAtATime = new EngineConfig("cpu", 16, 64L << 20, 0.8, 2048, 1, 0, false);
        try (AllInOneServer server = AllInOneServer.start(AllInOneServer.Options.local(MODEL, oneAtATime))) {
            server.engine().onStep(r -> {
                stepTokens.add(r.tokens());
                steps.incrementAndGet();
                if (paced.get()) {
                    permits.acquireUninterruptibly();
                }
            });
            ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext()
                    .build();
            try {
                run(server, channel);
            } finally {
                paced.set(false);
                permits.release(1_000_000);
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    private void run(AllInOneServer server, ManagedChannel channel) throws Exception {
        InferenceGrpc.InferenceStub async = InferenceGrpc.newStub(channel);
        // The blocker holds the only slot: greedy, past EOS, until the context is full.
        Stream blocker = generate(async, GenerateRequest.newBuilder().setRequestId("blocker")
                .setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setTemperature(0f).setIgnoreEos(true)).build());
        awaitState(() -> steps.get() >= 1, "the blocker's first step");

        // Two requests at priority 10 over gRPC, then one at priority 1 over the OpenAI API. Each waits
        // in the engine's queue before the next is sent. Prompt lengths (3, 5, 7) tell their prefills apart.
        Stream early1 = generate(async, queued("early-1", prompt(3), 10));
        stepUntilWaiting(server, 1);
        Stream early2 = generate(async, queued("early-2", prompt(5), 10));
        stepUntilWaiting(server, 2);
        CompletableFuture<HttpResponse<String>> urgent = HttpClient.newHttpClient().sendAsync(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.httpPort() + "/v1/completions"))
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": " + IntStream.of(prompt(7)).boxed().toList()
                        + ", \"max_tokens\": " + MAX_TOKENS + ", \"temperature\": 0, \"priority\": 1}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        stepUntilWaiting(server, 3);

        // Free the slot and let the engine run freely.
        int stepsBefore = stepTokens.size();
        assertThat(InferenceGrpc.newBlockingStub(channel).abort(AbortRequest.newBuilder().setRequestId("blocker")
                .build()).getAborted()).isTrue();
        paced.set(false);
        permits.release(1_000_000);

        assertThat(blocker.finish.get(60, TimeUnit.SECONDS)).isEqualTo(FinishReason.ABORTED);
        assertThat(early1.finish.get(60, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        assertThat(early2.finish.get(60, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        HttpResponse<String> urgentResponse = urgent.get(60, TimeUnit.SECONDS);
        assertThat(urgentResponse.statusCode()).as(urgentResponse.body()).isEqualTo(200);
        assertThat(urgentResponse.body()).contains("\"finish_reason\":\"length\"");

        // After the blocker left, the prefills ran in priority order, not in arrival order (3, 5, 7).
        List<Integer> prefills = new ArrayList<>();
        for (int tokens : stepTokens.subList(stepsBefore, stepTokens.size())) {
            if (tokens > 1) {
                prefills.add(tokens);
            }
        }
        assertThat(prefills).as("prompt lengths of the prefill steps, in order").containsExactly(7, 3, 5);
    }

    static int[] prompt(int length) {
        return IntStream.range(0, length).map(i -> 100 + 10 * length + i).toArray();
    }

    static GenerateRequest queued(String id, int[] prompt, int priority) {
        return GenerateRequest.newBuilder().setRequestId(id)
                .setPromptTokenIds(TokenIds.newBuilder().addAllIds(IntStream.of(prompt).boxed().toList()))
                .setSampling(SamplingParams.newBuilder().setTemperature(0f).setMaxTokens(MAX_TOKENS))
                .setPriority(priority).build();
    }

    /**
     * Lets the engine take one step at a time until {@code n} requests wait in its queue. A step is
     * released only once the newest request has reached the dispatcher, which hands it to the engine
     * at once; each step costs the blocker one of its several hundred tokens.
     */
    private void stepUntilWaiting(AllInOneServer server, int n) {
        awaitState(() -> server.dispatcher().liveRequests() >= 1 + n, "request " + n + " reaching the dispatcher");
        while (server.engine().stats().waiting() < n) {
            if (steps.get() > 300) {
                fail("request " + n + " did not reach the engine's queue within 300 steps");
            }
            long before = steps.get();
            permits.release();
            awaitState(() -> steps.get() > before, "an engine step");
        }
        assertThat(server.engine().stats().running()).as("the blocker still holds the only slot").isEqualTo(1);
    }

    private static void awaitState(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting for " + what);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
    }

    /** A streamed generation's finish reason. */
    static final class Stream implements StreamObserver<GenerateResponse> {
        final CompletableFuture<FinishReason> finish = new CompletableFuture<>();
        private FinishReason last;

        @Override
        public void onNext(GenerateResponse r) {
            last = r.getFinishReason();
        }

        @Override
        public void onError(Throwable t) {
            finish.completeExceptionally(t);
        }

        @Override
        public void onCompleted() {
            finish.complete(last);
        }
    }

    static Stream generate(InferenceGrpc.InferenceStub stub, GenerateRequest request) {
        Stream s = new Stream();
        stub.generate(request, s);
        return s;
    }
}
