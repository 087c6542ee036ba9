package dev.quire.gateway.routing;

import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.gateway.admission.PriorityPolicy;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.SamplingOptions;
import dev.quire.scheduler.engine.TokenLogprobs;
import dev.quire.gateway.TestModels;
import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.engine.EngineUnavailableException;
import dev.quire.scheduler.engine.TextCodec;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/** The dispatcher's own rules, against an engine that accepts requests but never schedules them. */
class RequestDispatcherTest {
    final Vertx vertx = Vertx.vertx();

    @AfterEach
    void close() {
        vertx.close();
    }

    /** Queues everything forever; cancelling ends a request as ABORTED, as the real engine does. */
    static final class StalledEngine extends TestModels.StubEngine {
        StalledEngine() {
            super("stalled");
        }
        final List<GenerationRequest> submitted = new CopyOnWriteArrayList<>();
        volatile TextCodec codec = TestModels.BYTES;

        @Override
        public TextCodec text() {
            return codec;
        }

        @Override
        public SchedulerStats stats() {
            return new SchedulerStats(0, submitted.size(), 0, 1, 0, 0, 0, 0, 0);
        }

        @Override
        public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
            submitted.add(request);
            return RequestHandle.of(request.requestId(),
                    () -> listener.onFinish(FinishReason.ABORTED, request.promptTokenIds().length, 0));
        }

        @Override
        public void close() {
        }
    }

    /** An engine that has shut down, as one does once a drain is over; {@code onSubmit} runs first. */
    static final class ShutDownEngine extends TestModels.StubEngine {
        ShutDownEngine() {
            super("shut-down");
        }
        Runnable onSubmit = () -> { };

        @Override
        public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
            onSubmit.run();
            throw new EngineUnavailableException("engine is shut down");
        }

        @Override
        public void close() {
        }
    }

    static final class Outcome implements GenerationListener {
        final CompletableFuture<Object> end = new CompletableFuture<>();

        @Override
        public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
            end.complete(reason);
        }

        @Override
        public void onError(Throwable error) {
            end.complete(error);
        }
    }

    RequestDispatcher dispatcher(StalledEngine engine, AdmissionLimits limits) {
        return new RequestDispatcher(vertx, new ModelCatalog().add(engine),
                new AdmissionController(ApiKeys.none(), limits), new GatewayMetrics(), new AccessLog(false));
    }

    static RequestDispatcher.Call call(SamplingOptions sampling) {
        return new RequestDispatcher.Call("test", "anonymous", "", PromptInput.tokens(new int[]{1, 2, 3}), sampling,
                null);
    }

    @Test
    void aRequestNotScheduledWithinTheQueueTimeoutFailsAsOverloadedAndFreesItsPermit() throws Exception {
        StalledEngine engine = new StalledEngine();
        RequestDispatcher d = dispatcher(engine, new AdmissionLimits(10, 10, Duration.ofMillis(200), 0, 0, 0, 0,
                1 << 20));
        Outcome outcome = new Outcome();
        d.dispatch(call(SamplingOptions.greedy(5)), outcome).toCompletionStage().toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        assertThat(d.admission().queued()).isEqualTo(1);
        Object end = outcome.end.get(10, TimeUnit.SECONDS);
        assertThat(end).isInstanceOfSatisfying(GatewayException.class,
                e -> assertThat(e.kind()).isEqualTo(ErrorKind.OVERLOADED));
        assertThat(d.admission().queued()).isZero();
        assertThat(d.admission().inFlight()).isZero();
        assertThat(d.liveRequests()).isZero();
    }

    @Test
    void maxTokensLimitRefusesLargerRequestsAndCapsUnsetOnes() throws Exception {
        StalledEngine engine = new StalledEngine();
        RequestDispatcher d = dispatcher(engine, new AdmissionLimits(10, 10, Duration.ofSeconds(30), 0, 0, 0, 64,
                1 << 20));
        Throwable refused = d.dispatch(call(SamplingOptions.greedy(65)), new Outcome()).cause();
        assertThat(refused).isInstanceOfSatisfying(GatewayException.class, e -> {
            assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
            assertThat(e.param()).isEqualTo("max_tokens");
        });
        d.dispatch(call(SamplingOptions.builder().temperature(0f).build()), new Outcome())
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(engine.submitted).hasSize(1);
        assertThat(engine.submitted.get(0).sampling().maxTokens()).isEqualTo(64);
    }

    @Test
    void priorityReachesTheEngineWithTheServersDefaultAndMinimumApplied() throws Exception {
        StalledEngine engine = new StalledEngine();
        RequestDispatcher d = dispatcher(engine, AdmissionLimits.defaults().withPriority(new PriorityPolicy(4, -2)));
        for (Integer asked : new Integer[]{7, null, -9, -2}) {
            RequestDispatcher.Call c = call(SamplingOptions.greedy(3));
            d.dispatch(new RequestDispatcher.Call(c.protocol(), c.identity(), c.model(), c.prompt(), c.sampling(),
                    c.requestId(), asked), new Outcome()).toCompletionStage().toCompletableFuture()
                    .get(10, TimeUnit.SECONDS);
        }
        assertThat(engine.submitted).extracting(GenerationRequest::priority).containsExactly(7, 4, -2, -2);
    }

    @Test
    void promptLongerThanTheServersBoundIsRefusedBeforeAdmission() {
        StalledEngine engine = new StalledEngine();
        RequestDispatcher d = dispatcher(engine, new AdmissionLimits(10, 10, Duration.ofSeconds(30), 0, 0, 2, 0,
                1 << 20));
        Throwable refused = d.dispatch(call(SamplingOptions.greedy(1)), new Outcome()).toCompletionStage()
                .toCompletableFuture().handle((ok, e) -> e instanceof java.util.concurrent.CompletionException
                        ? e.getCause() : e).join();
        assertThat(refused).isInstanceOfSatisfying(GatewayException.class, e -> {
            assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
            assertThat(e.param()).isEqualTo("prompt");
        });
        assertThat(engine.submitted).isEmpty();
        assertThat(d.admission().inFlight()).isZero();
    }

    @Test
    void textWorkBeyondTheBoundIsRefusedAtOnceAsOverloaded() throws Exception {
        StalledEngine engine = new StalledEngine();
        CountDownLatch gate = new CountDownLatch(1);
        AtomicInteger entered = new AtomicInteger();
        engine.codec = new TextCodec() {
            @Override
            public int[] encode(String text, boolean addSpecialTokens) {
                entered.incrementAndGet();
                try {
                    gate.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return TestModels.BYTES.encode(text, addSpecialTokens);
            }

            @Override
            public String decode(int[] ids, boolean skipSpecialTokens) {
                return TestModels.BYTES.decode(ids, skipSpecialTokens);
            }
        };
        RequestDispatcher d = dispatcher(engine, AdmissionLimits.defaults().withMaxTextJobs(1));
        RequestDispatcher.Call text = new RequestDispatcher.Call("test", "anonymous", "", PromptInput.text("hello"),
                SamplingOptions.greedy(1), null);
        Future<RequestDispatcher.Dispatched> first = d.dispatch(text, new Outcome());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (entered.get() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(entered.get()).as("the first prompt is being tokenized").isEqualTo(1);

        // Refused on the spot, not queued behind the first.
        for (Future<?> refused : List.<Future<?>>of(d.dispatch(text, new Outcome()),
                d.tokenize(engine, "hi", false), d.detokenize(engine, new int[]{104}, false),
                d.textJob(() -> "a chat template"))) {
            assertThat(refused.isComplete()).isTrue();
            assertThat(refused.cause()).isInstanceOfSatisfying(GatewayException.class, e -> {
                assertThat(e.kind()).isEqualTo(ErrorKind.OVERLOADED);
                assertThat(e.retryAfterSeconds()).isEqualTo(1);
            });
        }
        assertThat(entered.get()).isEqualTo(1);
        assertThat(d.admission().inFlight()).isZero();

        gate.countDown();
        first.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(d.textJobs()).isZero();
        d.dispatch(text, new Outcome()).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(engine.submitted).hasSize(2);
    }

    @Test
    void aShutDownEngineIsUnavailableAndDuringADrainSaysDraining() {
        ShutDownEngine engine = new ShutDownEngine();
        RequestDispatcher d = new RequestDispatcher(vertx, new ModelCatalog().add(engine),
                new AdmissionController(ApiKeys.none(), AdmissionLimits.defaults()), new GatewayMetrics(),
                new AccessLog(false));
        assertThat(refusal(d)).isEqualTo(ErrorKind.UNAVAILABLE);
        // The drain begins while the request is tokenized; the engine then refuses it.
        engine.onSubmit = () -> d.admission().startDraining();
        assertThat(refusal(d)).isEqualTo(ErrorKind.DRAINING);
        assertThat(d.admission().inFlight()).isZero();
        assertThat(d.liveRequests()).isZero();
    }

    static ErrorKind refusal(RequestDispatcher d) {
        Throwable refused = d.dispatch(call(SamplingOptions.greedy(1)), new Outcome()).toCompletionStage()
                .toCompletableFuture().handle((ok, e) -> e instanceof java.util.concurrent.CompletionException
                        ? e.getCause() : e).join();
        assertThat(refused).isInstanceOf(GatewayException.class);
        return ((GatewayException) refused).kind();
    }
}
