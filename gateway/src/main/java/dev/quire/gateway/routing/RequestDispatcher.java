package dev.quire.gateway.routing;

import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.gateway.ledger.GatewayLedger;
import dev.quire.scheduler.cluster.LedgerEntry;
import dev.quire.scheduler.engine.GeneratedOutput;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.observability.RequestObserver;
import dev.quire.scheduler.engine.EngineUnavailableException;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.SamplingOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The one path every protocol takes to run a generation: resolve the model, tokenize off the
 * event loop, check size bounds, admit, and submit to the engine with metrics and the access log
 * wired in. Protocol adapters only parse their wire format and render results and errors.
 */
public final class RequestDispatcher {
    private final Vertx vertx;
    private final ModelCatalog catalog;
    private final AdmissionController admission;
    private final GatewayMetrics metrics;
    private final AccessLog accessLog;
    /** The request ledger; null when it is off (--ledger off). */
    private volatile GatewayLedger ledger;
    /** Requests submitted and not finished, for Abort by request id. */
    private final Map<String, Live> live = new ConcurrentHashMap<>();
    /** Text jobs running or waiting for a worker thread; see {@link #textJob}. */
    private final AtomicInteger textJobs = new AtomicInteger();

    /** A request between submission and its last callback; the handle is set once submitted. */
    private static final class Live {
        final String identity;
        volatile RequestHandle handle;
        volatile long queueTimer = -1;

        Live(String identity) {
            this.identity = identity;
        }
    }

    public RequestDispatcher(Vertx vertx, ModelCatalog catalog, AdmissionController admission, GatewayMetrics metrics,
                             AccessLog accessLog) {
        this.vertx = vertx;
        this.catalog = catalog;
        this.admission = admission;
        this.metrics = metrics;
        this.accessLog = accessLog;
    }

    /**
     * One generation to run.
     *
     * @param protocol  "grpc" or "http", for logs
     * @param identity  the caller as {@link #authenticate} named it
     * @param model     model name; empty for the default
     * @param requestId the client's id, or null to assign one
     * @param priority  the priority the client asked for (lower runs first), already range-checked; null
     *                  for none. The caller's key settles the one it runs at: see
     *                  {@link AdmissionController#priority}
     */
    public record Call(String protocol, String identity, String model, PromptInput prompt, SamplingOptions sampling,
                       String requestId, Integer priority) {

        /** A call that asks for no priority. */
        public Call(String protocol, String identity, String model, PromptInput prompt, SamplingOptions sampling,
                    String requestId) {
            this(protocol, identity, model, prompt, sampling, requestId, null);
        }
    }

    /** A submitted generation. */
    public record Dispatched(String requestId, String model, int promptTokens, RequestHandle handle) {
    }

    /**
     * Records every request from now on in {@code ledger}: a retried request id is then answered
     * from it (see {@link GatewayLedger}). Set once, before the first model is served.
     */
    public void useLedger(GatewayLedger ledger) {
        this.ledger = ledger;
    }

    /** The request ledger in use; null when off. */
    public GatewayLedger ledger() {
        return ledger;
    }

    public ModelCatalog catalog() {
        return catalog;
    }

    public AdmissionController admission() {
        return admission;
    }

    /** Names the caller, or throws UNAUTHENTICATED; call before parsing the request. */
    public String authenticate(String bearerKey) {
        try {
            return admission.authenticate(bearerKey);
        } catch (GatewayException e) {
            metrics.recordFailure("unauthenticated");
            throw e;
        }
    }

    /** Fails fast with a {@link GatewayException} when the gateway is draining. */
    public void checkNotDraining() {
        if (admission.draining()) {
            throw new GatewayException(ErrorKind.DRAINING, null, "the server is shutting down; retry on another instance");
        }
    }

    /**
     * Runs {@code call}; output goes to {@code listener} from the engine thread. The future fails
     * with a {@link GatewayException} when the request is refused before it reaches the engine.
     */
    public Future<Dispatched> dispatch(Call request, GenerationListener listener) {
        long arrival = System.nanoTime();
        Call checked;
        InferenceEngine engine;
        try {
            checkNotDraining();
            engine = catalog.resolve(request.model());
            checked = withinTokenLimit(request);
        } catch (RuntimeException e) {
            return refused(e);
        }
        Call call = checked;
        Future<int[]> ids = call.prompt().isText()
                ? tokenize(engine, call.prompt().text(), call.prompt().addSpecialTokens())
                : Future.succeededFuture(call.prompt().tokenIds());
        // A refusal (too many text jobs) stays one, and so does "no worker can tokenize now" (503);
        // a tokenizer's failure is internal.
        return ids.recover(e -> Future.failedFuture(e instanceof GatewayException ? e
                        : e instanceof EngineUnavailableException ? GatewayException.from(e)
                        : new GatewayException(ErrorKind.INTERNAL, "prompt", "tokenization failed: " + e.getMessage())))
                .compose(tokens -> {
                    try {
                        return submit(call, engine, tokens, listener, arrival);
                    } catch (RuntimeException e) {
                        return refused(e);
                    }
                });
    }

    /** Applies --max-tokens-limit: an explicit larger max_tokens is refused, an unset one is capped. */
    private Call withinTokenLimit(Call call) {
        int limit = admission.limits().maxTokens();
        int asked = call.sampling().maxTokens();
        if (limit <= 0 || (asked > 0 && asked <= limit)) {
            return call;
        }
        if (asked > limit) {
            throw new GatewayException(ErrorKind.INVALID_ARGUMENT, "max_tokens", "max_tokens: " + asked
                    + " is above this server's limit of " + limit);
        }
        SamplingOptions s = call.sampling();
        SamplingOptions capped = new SamplingOptions(limit, s.temperature(), s.topP(), s.topK(), s.minP(), s.seed(),
                s.stop(), s.stopTokenIds(), s.ignoreEos(), s.repetitionPenalty(), s.presencePenalty(),
                s.frequencyPenalty(), s.logprobs());
        return new Call(call.protocol(), call.identity(), call.model(), call.prompt(), capped, call.requestId(),
                call.priority());
    }

    private Future<Dispatched> submit(Call call, InferenceEngine engine, int[] tokens, GenerationListener listener,
                                      long arrival) {
        int maxPrompt = admission.limits().maxPromptTokens();
        if (maxPrompt > 0 && tokens.length > maxPrompt) {
            throw new GatewayException(ErrorKind.INVALID_ARGUMENT, "prompt", "prompt: has " + tokens.length
                    + " tokens; this server accepts at most " + maxPrompt);
        }
        boolean freshId = call.requestId() == null || call.requestId().isEmpty();
        String requestId = freshId ? "req-" + UUID.randomUUID() : call.requestId();
        // Registered before anything else, so that a request finishing at once is never left behind
        // and a second call with the same id is refused at once.
        Live entry = new Live(call.identity());
        if (live.putIfAbsent(requestId, entry) != null) {
            throw new GatewayException(ErrorKind.ALREADY_EXISTS, "request_id", "request_id: '" + requestId
                    + "' is already running");
        }
        // The gateway fixes the seed at admission: a continuation on another worker, or through
        // another gateway, then draws the same sequence.
        SamplingOptions sampling = call.sampling().seed() != null ? call.sampling()
                : call.sampling().withSeed(java.util.concurrent.ThreadLocalRandom.current().nextLong());
        GenerationRequest request = new GenerationRequest(requestId, tokens, sampling,
                admission.priority(call.identity(), call.priority()));
        GatewayLedger ledger = this.ledger;
        if (ledger == null) {
            try {
                return Future.succeededFuture(start(call, engine, request, null, null, listener, arrival, entry));
            } catch (RuntimeException e) {
                live.remove(requestId, entry);
                throw e;
            }
        }
        LedgerEntry wanted = new LedgerEntry(requestId, call.identity(), engine.model().name(), tokens, sampling,
                request.priority(), ledger.memberId(), "", GeneratedOutput.EMPTY, null, 0);
        return ledger.claim(wanted, call.sampling(), freshId)
                .compose(claim -> {
                    try {
                        return Future.succeededFuture(start(call, engine, request, ledger, claim, listener, arrival,
                                entry));
                    } catch (RuntimeException e) {
                        return Future.failedFuture(e);
                    }
                })
                .onFailure(e -> live.remove(requestId, entry))
                // Refused after the claim (admission, the engine's own checks): counted and reported like any
                // refusal, as without the ledger.
                .recover(e -> refused(e));
    }

    /** Admits and starts a request the ledger (if on) let through: new, finished earlier, or taken over. */
    private Dispatched start(Call call, InferenceEngine engine, GenerationRequest request, GatewayLedger ledger,
                             GatewayLedger.Claim claim, GenerationListener listener, long arrival, Live entry) {
        String requestId = request.requestId();
        AdmissionController.Permit permit = admission.admit(call.identity(), request.promptTokenIds().length);
        String modelName = engine.model().name();
        RequestObserver observer = new RequestObserver(listener, permit, metrics, accessLog, requestId,
                call.protocol(), modelName, call.identity(), call.prompt().text(), arrival, () -> {
                    live.remove(requestId, entry);
                    vertx.cancelTimer(entry.queueTimer);
                });
        entry.queueTimer = vertx.setTimer(admission.limits().queueTimeout().toMillis(), t -> {
            RequestHandle h = entry.handle;
            if (h != null && !observer.started()) {
                observer.markQueueTimeout();
                h.cancel();
            }
        });
        RequestHandle handle;
        try {
            if (claim == null) {
                handle = engine.submit(request, observer);
            } else if (claim instanceof GatewayLedger.Claim.New n) {
                handle = engine.submit(request, ledger.record(n.entry(), observer));
            } else if (claim instanceof GatewayLedger.Claim.Finished f) {
                handle = replay(f.entry(), observer);
            } else {
                // Taken over from a gateway that died: it continues with the sampling it was admitted with.
                LedgerEntry e = ((GatewayLedger.Claim.TakenOver) claim).entry();
                metrics.recordTakeOver();
                handle = engine.resume(new GenerationRequest(requestId, e.prompt(), e.sampling(), e.priority()),
                        e.worker(), e.output(), ledger.record(e, observer));
            }
        } catch (RuntimeException e) {
            vertx.cancelTimer(entry.queueTimer);
            permit.close();
            if (e instanceof EngineUnavailableException && admission.draining()) {
                checkNotDraining(); // a drain that began after the check above shut the engine down: say so
            }
            throw e;
        }
        entry.handle = handle;
        return new Dispatched(requestId, modelName, request.promptTokenIds().length, handle);
    }

    /** Sends a finished request's kept result again, as it was first delivered. */
    private RequestHandle replay(LedgerEntry done, GenerationListener observer) {
        metrics.recordResultReplay();
        vertx.runOnContext(v -> {
            observer.onScheduled();
            GeneratedOutput out = done.output();
            if (out.size() > 0 || !out.text().isEmpty()) {
                observer.onTokens(out.tokenIds(), out.text(), out.logprobs());
            }
            observer.onFinish(done.finish(), done.prompt().length, done.completionTokens());
        });
        return RequestHandle.of(done.requestId(), () -> { });
    }

    /**
     * Aborts a running request on behalf of {@code identity}; only the caller that started it may.
     *
     * @return whether a running request of that id and caller was found
     */
    public boolean abort(String identity, String requestId) {
        Live l = live.get(requestId);
        RequestHandle handle = l == null ? null : l.handle;
        if (handle == null || !l.identity.equals(identity)) {
            return false;
        }
        handle.cancel();
        return true;
    }

    /**
     * The gateway side of a graceful shutdown: refuse new requests at once, then wait up to
     * {@code timeout} for the running ones to finish. Logs what is left to abort.
     */
    public void drain(java.time.Duration timeout) throws InterruptedException {
        admission.startDraining();
        if (!awaitNoLiveRequests(timeout)) {
            org.slf4j.LoggerFactory.getLogger(RequestDispatcher.class)
                    .warn("Drain timeout reached; aborting {} requests still running", liveRequests());
        }
    }

    /** Waits up to {@code timeout} for every request to end; whether none is left. */
    public boolean awaitNoLiveRequests(java.time.Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (liveRequests() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        return liveRequests() == 0;
    }

    /** Requests submitted and not yet finished. */
    public int liveRequests() {
        return live.size();
    }

    private <T> Future<T> refused(Throwable error) {
        GatewayException g = GatewayException.from(error);
        metrics.recordFailure(g.kind().name().toLowerCase());
        return Future.failedFuture(g);
    }

    /** Tokenizes off the event loop: long prompts take real time. A text job ({@link #textJob}). */
    public Future<int[]> tokenize(InferenceEngine engine, String text, boolean addSpecialTokens) {
        return textJob(() -> engine.text().encode(text, addSpecialTokens));
    }

    /** Turns token ids into text off the event loop. A text job ({@link #textJob}). */
    public Future<String> detokenize(InferenceEngine engine, int[] ids, boolean skipSpecialTokens) {
        return textJob(() -> engine.text().decode(ids, skipSpecialTokens));
    }

    /**
     * Runs text work that comes before admission (tokenizing, detokenizing, rendering a chat
     * template) on Vert.x's worker pool, within --max-text-jobs jobs running or waiting for a
     * thread over the whole gateway. Beyond that the future fails at once with OVERLOADED (429 /
     * RESOURCE_EXHAUSTED, retry after a second) instead of queueing: a flood of large prompts costs
     * a bounded amount of work before the first refusal.
     */
    public <T> Future<T> textJob(Callable<T> job) {
        int max = admission.limits().maxTextJobs();
        if (textJobs.incrementAndGet() > max) {
            textJobs.decrementAndGet();
            return refused(new GatewayException(ErrorKind.OVERLOADED, null, "too many prompts being tokenized or "
                    + "rendered (" + max + "); retry shortly", 1));
        }
        return vertx.executeBlocking(job, false).andThen(done -> textJobs.decrementAndGet());
    }

    /** Text jobs running or waiting for a thread. */
    public int textJobs() {
        return textJobs.get();
    }
}
