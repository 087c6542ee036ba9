package dev.quire.worker.engine;

import dev.quire.scheduler.engine.InvalidRequestException;

import dev.quire.scheduler.engine.TokenLogprobs;

import dev.quire.scheduler.engine.SamplingOptions;

import dev.quire.scheduler.engine.RequestHandle;

import dev.quire.scheduler.engine.GenerationListener;

import dev.quire.scheduler.engine.GenerationRequest;


import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import ai.djl.util.cuda.CudaUtils;
import dev.quire.scheduler.batch.ScheduledSequence;
import dev.quire.scheduler.engine.EngineUnavailableException;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.TextCodec;
import dev.quire.scheduler.batch.Scheduler;
import dev.quire.scheduler.batch.SchedulerConfig;
import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.batch.Sequence;
import dev.quire.scheduler.batch.SequenceStatus;
import dev.quire.scheduler.batch.StepPlan;
import dev.quire.worker.model.ForwardBatch;
import dev.quire.worker.model.LlamaModel;
import dev.quire.worker.model.PagedKvCache;
import dev.quire.worker.model.SafetensorsCheckpoint;
import dev.quire.worker.model.ServedModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * Continuous batching on one device: a dedicated thread repeats plan -> forward -> sample -> emit.
 * Requests join and leave between steps; callers only touch thread-safe queues, so submitting or
 * cancelling never blocks on model work.
 */
public final class LlamaEngine implements WorkerEngine {
    private static final Logger LOG = LoggerFactory.getLogger(LlamaEngine.class);

    private final ServedModel model;
    private final ModelInfo info;
    private final LlamaModel llama;
    private final PagedKvCache cache;
    private final Scheduler scheduler;
    private final int maxModelLen;
    private final int maxRunning;
    private final int vocab;
    private final TokenSampler sampler = new TokenSampler();

    private final ConcurrentLinkedQueue<ActiveRequest> arrivals = new ConcurrentLinkedQueue<>();
    /** Cancelled requests, by identity: an id may be reused once its request ended. */
    private final ConcurrentLinkedQueue<ActiveRequest> cancellations = new ConcurrentLinkedQueue<>();
    /** Ids of requests submitted and not yet finished, to reject duplicates at once. */
    private final Map<String, ActiveRequest> live = new ConcurrentHashMap<>();
    /** Requests the engine thread runs; touched only by that thread. */
    private final Map<String, ActiveRequest> running = new HashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Set once the native memory (KV cache, weights, tokenizer) is freed. */
    private final AtomicBoolean released = new AtomicBoolean();
    private static final long STOP_WAIT_MILLIS = 10_000;
    private final Thread thread;
    private volatile SchedulerStats stats;
    private volatile java.util.function.Consumer<StepReport> stepObserver = r -> { };
    /** Published for the cluster by the engine thread: see {@link #health()}. */
    private volatile long[] prefixHashes = new long[0];
    private long prefixHashesAt;
    private final java.util.concurrent.atomic.AtomicLong requestsCompleted = new java.util.concurrent.atomic.AtomicLong();
    private volatile double stepMillis;
    private volatile long lastProgressNanos = System.nanoTime();
    private volatile boolean busy;
    private volatile StepFaults faults = StepFaults.NONE;
    /** Set when the engine thread stopped on an error it cannot go on after; submits are refused from then on. */
    private volatile Throwable fatal;

    public LlamaEngine(ServedModel model, EngineConfig config) {
        this.model = model;
        this.vocab = model.config().vocabSize();
        this.maxModelLen = config.maxModelLen() > 0
                ? Math.min(config.maxModelLen(), model.config().maxPositionEmbeddings())
                : model.config().maxPositionEmbeddings();
        Device device = device(config.device());
        // Compute in float32 on CPU; half precision on GPUs.
        DataType dtype = device.isGpu() ? DataType.FLOAT16 : DataType.FLOAT32;
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(model.directory())) {
            this.llama = LlamaModel.load(model.config(), checkpoint, device, dtype);
        }
        int blocksPerSequence = (maxModelLen + config.blockSize() - 1) / config.blockSize();
        long budget = kvBudget(config, device);
        int byBudget = PagedKvCache.blocksForBudget(budget, model.config(), config.blockSize(), dtype);
        // No point holding more than every sequence at full length needs.
        int numBlocks = (int) Math.min(byBudget, (long) config.maxSeqs() * blocksPerSequence);
        if (numBlocks < blocksPerSequence) {
            llama.close();
            throw new IllegalArgumentException("KV cache budget of " + budget + " bytes holds " + numBlocks
                    + " blocks, fewer than one full-length sequence needs (" + blocksPerSequence + ")");
        }
        this.cache = llama.newKvCache(numBlocks, config.blockSize());
        this.scheduler = new Scheduler(new SchedulerConfig(numBlocks, config.blockSize(),
                Math.max(config.maxBatchedTokens(), 1), config.maxSeqs(), maxModelLen, config.prefixCaching(), 0L));
        this.stats = scheduler.stats();
        this.info = model.info(maxModelLen);
        this.maxRunning = config.maxSeqs();
        LOG.info("Model {} on {} ({}): {} layers, hidden {}, vocab {}; KV cache {} blocks x {} tokens = {} MiB; "
                        + "max model len {}; {}", model.name(), device, dtype, model.config().numLayers(),
                model.config().hiddenSize(), vocab, numBlocks, config.blockSize(),
                numBlocks * PagedKvCache.bytesPerBlock(model.config(), config.blockSize(), dtype) >> 20, maxModelLen,
                kernels());
        this.thread = new Thread(this::loop, "quire-engine-" + model.name());
        thread.setDaemon(true);
        thread.start();
    }

    /** "cpu" or "cuda:N", checked against the GPUs this process can see. */
    private static Device device(String name) {
        if (name.equals("cpu")) {
            return Device.cpu();
        }
        int index = Integer.parseInt(name.substring("cuda:".length()));
        int gpus = CudaUtils.getGpuCount();
        if (index >= gpus) {
            throw new IllegalArgumentException("--device " + name + ": no such GPU (this process sees " + gpus
                    + "; a GPU also needs PyTorch's CUDA native libraries instead of the CPU ones)");
        }
        return Device.gpu(index);
    }

    private static long kvBudget(EngineConfig config, Device device) {
        if (config.kvCacheBytes() > 0) {
            return config.kvCacheBytes();
        }
        if (device.isGpu()) {
            var usage = CudaUtils.getGpuMemory(device);
            return (long) ((usage.getMax() - usage.getCommitted()) * config.gpuMemoryFraction());
        }
        return EngineConfig.DEFAULT_CPU_KV_BYTES;
    }

    /** The kernels the forward pass runs on, e.g. "weight matmuls: MKL packed GEMM; decode attention: native paged kernel". */
    public String kernels() {
        return "weight matmuls: " + llama.matmulKernel() + "; decode attention: " + llama.attentionKernel();
    }

    @Override
    public ModelInfo model() {
        return info;
    }

    /** The loaded model: folder, configuration and tokenizer. */
    public ServedModel servedModel() {
        return model;
    }

    @Override
    public TextCodec text() {
        if (model.tokenizer() == null) {
            throw new IllegalStateException("model '" + model.name() + "' was loaded without a tokenizer");
        }
        return model.tokenizer();
    }

    /** Most tokens (prompt + output) one sequence may hold. */
    public int maxModelLen() {
        return maxModelLen;
    }

    /** The scheduler's counters after the latest step. */
    @Override
    public SchedulerStats stats() {
        return stats;
    }

    /**
     * Failure injection for tests: called on the engine thread around every forward pass. What it
     * throws behaves as if the forward pass had thrown it.
     */
    interface StepFaults {
        StepFaults NONE = new StepFaults() {
        };

        /** Before the forward pass of step {@code stepIndex}, which computes {@code requestIds}. */
        default void beforeForward(long stepIndex, List<String> requestIds) {
        }

        /** After it: {@code logits} holds one row of vocabulary size per id of {@code rowRequestIds}. */
        default void afterForward(long stepIndex, List<String> rowRequestIds, float[] logits) {
        }
    }

    /** Installs a {@link StepFaults} (tests only). */
    void injectFaults(StepFaults faults) {
        this.faults = faults == null ? StepFaults.NONE : faults;
    }

    /** Receives a report after every step, on the engine thread; it must return quickly. */
    public void onStep(java.util.function.Consumer<StepReport> observer) {
        this.stepObserver = observer;
    }

    @Override
    public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
        if (closed.get()) {
            throw new EngineUnavailableException("engine is shut down");
        }
        if (fatal != null) {
            throw stopped(fatal);
        }
        request.checkFits(maxModelLen, vocab);
        SamplingOptions options = request.sampling();
        long seed = options.seed() != null ? options.seed() : ThreadLocalRandom.current().nextLong();
        ActiveRequest active = new ActiveRequest(request, listener, seed, model.tokenizer(), model.config()::isEos,
                maxModelLen);
        if (live.putIfAbsent(request.requestId(), active) != null) {
            throw new InvalidRequestException("request_id", "'" + request.requestId() + "' is already running");
        }
        arrivals.add(active);
        if ((closed.get() || fatal != null) && arrivals.remove(active)) {
            // The engine thread has stopped, or is stopping, and may have drained its arrivals already.
            live.remove(request.requestId(), active);
            throw closed.get() ? new EngineUnavailableException("engine is shut down") : stopped(fatal);
        }
        LockSupport.unpark(thread);
        return RequestHandle.of(request.requestId(), () -> {
            // The flag covers a request still in `arrivals`; the queue, one the engine already admitted.
            active.cancelled = true;
            cancellations.add(active);
            LockSupport.unpark(thread);
        });
    }

    private EngineUnavailableException stopped(Throwable cause) {
        // The cause stays out of the message (clients see it); the log has it.
        return new EngineUnavailableException("the engine of model '" + model.name()
                + "' stopped after an internal error", cause);
    }

    /**
     * The engine thread. A failure inside a step fails that step's requests only (see {@link #step});
     * a RuntimeException anywhere else fails every admitted request; an Error stops the engine
     * ({@link #die}).
     */
    private void loop() {
        try {
            while (!closed.get()) {
                try {
                    admitAndCancel();
                    stats = scheduler.stats();
                    refreshPrefixHashes(false);
                    if (!scheduler.hasWork()) {
                        busy = false;
                        // What the last steps cached must be visible to placement while the engine idles.
                        refreshPrefixHashes(true);
                        LockSupport.park(this);
                        lastProgressNanos = System.nanoTime();
                        continue;
                    }
                    busy = true;
                    step();
                    lastProgressNanos = System.nanoTime();
                } catch (RuntimeException e) {
                    // Outside any step's own handling, so the engine's bookkeeping is in doubt: start afresh.
                    LOG.error("Engine loop failed outside a step; failing every admitted request", e);
                    failAll(e);
                }
            }
            for (ActiveRequest r : List.copyOf(running.values())) {
                finish(r, FinishReason.ABORTED);
            }
            drainArrivals();
        } catch (Throwable e) {
            die(e);
        }
    }

    /**
     * The engine thread is ending on an Error (out of memory, a broken native library, ...), after
     * which neither the device state nor the scheduler can be trusted: the engine reports itself
     * not alive, refuses new submits, and fails every request it holds.
     */
    private void die(Throwable cause) {
        fatal = cause;
        busy = false;
        try {
            LOG.error("Engine thread of model '{}' stopped on {}; it takes no more requests and fails the {} it holds",
                    model.name(), cause, running.size() + arrivals.size(), cause);
            EngineUnavailableException failure = stopped(cause);
            for (ActiveRequest r : List.copyOf(running.values())) {
                running.remove(r.request.requestId(), r);
                live.remove(r.request.requestId(), r);
                tellError(r, failure);
            }
            ActiveRequest r;
            while ((r = arrivals.poll()) != null) {
                live.remove(r.request.requestId(), r);
                tellError(r, failure);
            }
        } catch (Throwable again) {
            // Out of memory again, most likely: what could be told has been.
            cause.addSuppressed(again);
        }
    }

    private void admitAndCancel() {
        ActiveRequest arrival;
        while ((arrival = arrivals.poll()) != null) {
            if (arrival.cancelled) {
                finish(arrival, FinishReason.ABORTED);
                continue;
            }
            if (arrival.endedBeforeResume != null) {
                // Its earlier output already ended it (only the finish was lost with its worker or gateway).
                finish(arrival, arrival.endedBeforeResume);
                continue;
            }
            try {
                scheduler.add(new Sequence(arrival.request.requestId(), arrival.request.promptTokenIds(),
                        arrival.request.priority()));
            } catch (RuntimeException e) {
                LOG.error("Request {} could not be queued", arrival.request.requestId(), e);
                fail(arrival, e);
                continue;
            }
            running.put(arrival.request.requestId(), arrival);
        }
        ActiveRequest cancelled;
        while ((cancelled = cancellations.poll()) != null) {
            // Not running: it already ended, or it is still in `arrivals` and its flag ends it on admission.
            if (running.get(cancelled.request.requestId()) == cancelled) {
                scheduler.abort(cancelled.request.requestId());
                finish(cancelled, FinishReason.ABORTED);
            }
        }
    }

    /**
     * One engine step. If planning, the forward pass or the scheduler's commit throws, the requests
     * computed in this step fail and the rest (waiting, or beyond this step's budget) go on; a
     * request whose logits or listener fail, fails alone.
     */
    private void step() {
        long start = System.nanoTime();
        StepPlan plan;
        try {
            plan = scheduler.plan();
        } catch (RuntimeException e) {
            failPlanning(e);
            return;
        }
        stats = scheduler.stats();
        List<ScheduledSequence> items = plan.items();
        if (items.isEmpty()) {
            // Nothing fits this step (e.g. all waiting and the pool is full of cached blocks being freed).
            LockSupport.parkNanos(1_000_000L);
            return;
        }
        // Index-aligned with items; null once a request has failed or ended.
        ActiveRequest[] requests = new ActiveRequest[items.size()];
        for (int i = 0; i < items.size(); i++) {
            String id = items.get(i).requestId();
            ActiveRequest r = running.get(id);
            if (r == null) {
                LOG.error("Step {} planned request {}, which the engine does not hold; aborting it", plan.stepIndex(), id);
                scheduler.abort(id);
                continue;
            }
            requests[i] = r;
            if (!r.scheduled) {
                r.scheduled = true;
                if (!tell(r, () -> r.listener.onScheduled())) {
                    requests[i] = null;
                }
            }
        }
        try {
            compute(plan, requests, start);
        } catch (RuntimeException e) {
            int failed = 0;
            for (ActiveRequest r : requests) {
                if (r != null && running.get(r.request.requestId()) == r) {
                    failed++;
                }
            }
            LOG.error("Engine step {} failed; failing its {} requests", plan.stepIndex(), failed, e);
            for (ActiveRequest r : requests) {
                if (r != null && running.get(r.request.requestId()) == r) {
                    fail(r, e);
                }
            }
        }
    }

    /** Forward, sampling, commit and emission for the requests of {@code plan} still in {@code requests}. */
    private void compute(StepPlan plan, ActiveRequest[] requests, long start) {
        List<ScheduledSequence> items = plan.items();
        ForwardBatch.Builder builder = new ForwardBatch.Builder(cache.blockSize());
        int[] itemOfSeq = new int[items.size()];
        List<String> ids = new ArrayList<>(items.size());
        for (int i = 0; i < items.size(); i++) {
            if (requests[i] == null) {
                continue;
            }
            ScheduledSequence item = items.get(i);
            itemOfSeq[ids.size()] = i;
            ids.add(item.requestId());
            builder.add(item.startPosition(), item.tokenIds(), item.slotMapping(), item.blockTable(), item.samples());
        }
        if (ids.isEmpty()) {
            return; // all failed before the forward pass; the next plan replaces this one
        }
        ForwardBatch batch = builder.build();
        StepFaults faults = this.faults;
        if (faults != StepFaults.NONE) {
            faults.beforeForward(plan.stepIndex(), ids);
        }
        long forwardStart = System.nanoTime();
        float[] logits = llama.forward(batch, cache);
        long forwardNanos = System.nanoTime() - forwardStart;
        if (faults != StepFaults.NONE) {
            faults.afterForward(plan.stepIndex(), Arrays.stream(batch.sampleSeqs())
                    .mapToObj(ids::get).toList(), logits);
        }
        int blocksUsed = scheduler.stats().kvBlocksUsed();

        int[] sampled = new int[items.size()];
        TokenLogprobs[] logprobs = new TokenLogprobs[items.size()];
        for (int row = 0; row < batch.sampleSeqs().length; row++) {
            int itemIndex = itemOfSeq[batch.sampleSeqs()[row]];
            ActiveRequest r = requests[itemIndex];
            try {
                TokenSampler.Sample s = sampler.sample(logits, row * vocab, vocab, r.request.sampling(), r.seed,
                        r.completionTokens, r.history);
                sampled[itemIndex] = s.tokenId();
                logprobs[itemIndex] = s.logprobs();
            } catch (RuntimeException e) {
                LOG.error("Request {} failed in step {}", r.request.requestId(), plan.stepIndex(), e);
                fail(r, e); // aborted in the scheduler, so the commit skips it
                requests[itemIndex] = null;
            }
        }
        scheduler.commit(plan, sampled);
        int decodes = 0;
        long kvTokens = 0;
        for (int i = 0; i < items.size(); i++) {
            ScheduledSequence item = items.get(i);
            decodes += item.numTokens() == 1 ? 1 : 0;
            kvTokens += item.contextLength();
            ActiveRequest r = requests[i];
            if (item.samples() && r != null) {
                try {
                    accept(r, sampled[i], logprobs[i]);
                } catch (RuntimeException e) {
                    LOG.error("Request {} failed in step {}", r.request.requestId(), plan.stepIndex(), e);
                    fail(r, e);
                }
            }
        }
        stats = scheduler.stats();
        long stepNanos = System.nanoTime() - start;
        stepMillis = stepMillis == 0 ? stepNanos / 1e6 : 0.8 * stepMillis + 0.2 * stepNanos / 1e6;
        try {
            stepObserver.accept(new StepReport(plan.stepIndex(), items.size(), plan.totalTokens(), decodes,
                    forwardNanos, System.nanoTime() - start, blocksUsed, kvTokens, cache.blockSize()));
        } catch (RuntimeException e) {
            // Metrics only: the step itself succeeded.
            LOG.warn("Step observer threw on step {}", plan.stepIndex(), e);
        }
    }

    /**
     * Planning threw: the requests the scheduler was running fail, waiting ones stay queued. With
     * none running there is nobody to blame, so every admitted request fails rather than the same
     * failure repeating every step.
     */
    private void failPlanning(RuntimeException e) {
        List<ActiveRequest> runningNow = new ArrayList<>();
        for (ActiveRequest r : running.values()) {
            Sequence seq = scheduler.get(r.request.requestId());
            if (seq != null && seq.status() == SequenceStatus.RUNNING) {
                runningNow.add(r);
            }
        }
        if (runningNow.isEmpty()) {
            LOG.error("Planning an engine step failed with nothing running; failing every admitted request", e);
            failAll(e);
            return;
        }
        LOG.error("Planning an engine step failed; failing its {} running requests", runningNow.size(), e);
        for (ActiveRequest r : runningNow) {
            fail(r, e);
        }
    }

    /** Appends a sampled token: stop checks, detokenization, emission. */
    private void accept(ActiveRequest r, int token, TokenLogprobs logprobs) {
        r.completionTokens++;
        r.history.add(token);
        SamplingOptions options = r.request.sampling();
        String delta = r.detokenizer == null ? "" : r.detokenizer.append(token);
        StopStringFilter.Result filtered = r.stopFilter.offer(delta);
        FinishReason reason = null;
        if (!options.ignoreEos() && model.config().isEos(token) || contains(options.stopTokenIds(), token)) {
            reason = FinishReason.STOP;
        } else if (filtered.stopped()) {
            reason = FinishReason.STOP_STRING;
        } else if (options.maxTokens() > 0 && r.completionTokens >= options.maxTokens()
                || r.request.promptLength() + r.completionTokens >= maxModelLen) {
            reason = FinishReason.LENGTH;
        }
        String text = filtered.text();
        if (reason != null && reason != FinishReason.STOP_STRING) {
            if (r.detokenizer != null) {
                text += r.stopFilter.offer(r.detokenizer.flush()).text();
            }
            text += r.stopFilter.flush();
        }
        String emitted = text;
        if (!tell(r, () -> r.listener.onTokens(new int[]{token}, emitted,
                logprobs == null ? null : new TokenLogprobs[]{logprobs}))) {
            return;
        }
        if (reason != null) {
            scheduler.finish(r.request.requestId(), reason);
            finish(r, reason);
        }
    }

    /** Copies the prefix cache's contents for the cluster, at most every 200 ms (engine thread). */
    private void refreshPrefixHashes(boolean now) {
        long time = System.nanoTime();
        if (now || time - prefixHashesAt > 200_000_000L) {
            prefixHashesAt = time;
            prefixHashes = scheduler.cachedPrefixHashes(dev.quire.scheduler.cluster.WorkerRecord.MAX_PREFIX_HASHES);
        }
    }

    @Override
    public EngineHealth health() {
        boolean stalled = busy && System.nanoTime() - lastProgressNanos > 60_000_000_000L;
        return new EngineHealth(fatal == null && thread.isAlive() && !closed.get() && !stalled,
                requestsCompleted.get(), stepMillis, prefixHashes);
    }

    @Override
    public int maxRunning() {
        return maxRunning;
    }

    @Override
    public int blockSize() {
        return cache.blockSize();
    }

    private void finish(ActiveRequest r, FinishReason reason) {
        requestsCompleted.incrementAndGet();
        running.remove(r.request.requestId(), r);
        live.remove(r.request.requestId(), r);
        try {
            r.listener.onFinish(reason, r.request.promptLength(), r.completionTokens);
        } catch (RuntimeException | LinkageError | AssertionError e) {
            LOG.warn("Listener of request {} threw from onFinish", r.request.requestId(), e);
        }
    }

    /** Ends one request with an error: its sequence is aborted (blocks freed) and its listener told. */
    private void fail(ActiveRequest r, Throwable error) {
        scheduler.abort(r.request.requestId());
        running.remove(r.request.requestId(), r);
        live.remove(r.request.requestId(), r);
        tellError(r, error);
    }

    private void tellError(ActiveRequest r, Throwable error) {
        try {
            r.listener.onError(error);
        } catch (RuntimeException | LinkageError | AssertionError e) {
            LOG.warn("Listener of request {} threw from onError", r.request.requestId(), e);
        }
    }

    /**
     * Runs one listener call of a live request. A listener that throws fails its own request only
     * (aborted, then told through onError); returns whether the call returned normally.
     */
    private boolean tell(ActiveRequest r, Runnable call) {
        try {
            call.run();
            return true;
        } catch (RuntimeException | LinkageError | AssertionError e) {
            LOG.warn("Listener of request {} threw; failing the request", r.request.requestId(), e);
            fail(r, e);
            return false;
        }
    }

    /** Every admitted request fails (the scheduler is emptied); requests still arriving are kept. */
    private void failAll(Throwable e) {
        for (ActiveRequest r : List.copyOf(running.values())) {
            fail(r, e);
        }
    }

    private void drainArrivals() {
        ActiveRequest r;
        while ((r = arrivals.poll()) != null) {
            finish(r, FinishReason.ABORTED);
        }
    }

    private static boolean contains(int[] values, int v) {
        for (int x : values) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }

    /**
     * Stops the engine thread: new submits are refused, the step in progress ends, and every request
     * still held finishes with {@code ABORTED} (its listener gets the final chunk). Native memory stays
     * allocated (the tokenizer too, which gateways' text jobs may still be using): {@link #close()}
     * frees it. Idempotent.
     */
    @Override
    public void stop() {
        if (closed.compareAndSet(false, true)) {
            LockSupport.unpark(thread);
        }
        try {
            thread.join(STOP_WAIT_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * {@link #stop()}, then frees the KV cache, the weights and the tokenizer. Call it once nothing can
     * use them: after the servers that tokenize for this engine are closed. Should the engine thread
     * still run (a step stuck in a native call), nothing is freed, since freeing under it could
     * crash the process; the memory goes with the process.
     */
    @Override
    public void close() {
        stop();
        if (thread.isAlive()) {
            LOG.warn("Engine thread of model '{}' did not stop within {} ms; its native memory is left to the "
                    + "process's exit", model.name(), STOP_WAIT_MILLIS);
            return;
        }
        if (!released.compareAndSet(false, true)) {
            return;
        }
        cache.close();
        llama.close();
        if (model.tokenizer() != null) {
            model.tokenizer().close();
        }
    }

    /** Per-request state, touched only by the engine thread once admitted. */
    private static final class ActiveRequest {
        final GenerationRequest request;
        final GenerationListener listener;
        final long seed;
        final TokenHistory history;
        final dev.quire.worker.model.IncrementalDetokenizer detokenizer;
        final StopStringFilter stopFilter;
        int completionTokens;
        boolean scheduled;
        /** Set by the handle's cancel, from any thread. */
        volatile boolean cancelled;
        /** A resumed request whose resumed tokens already end it (EOS, stop, length): how; else null. */
        final FinishReason endedBeforeResume;

        ActiveRequest(GenerationRequest request, GenerationListener listener, long seed,
                      dev.quire.worker.model.TextTokenizer tokenizer, java.util.function.IntPredicate isEos,
                      int maxModelLen) {
            this.request = request;
            this.listener = listener;
            this.seed = seed;
            int[] all = request.promptTokenIds();
            int[] prompt = java.util.Arrays.copyOf(all, request.promptLength());
            this.history = TokenHistory.of(prompt, request.sampling());
            this.detokenizer = tokenizer == null ? null : tokenizer.newDetokenizer(prompt);
            this.stopFilter = new StopStringFilter(request.sampling().stop());
            // A resumed request: replay its own earlier output through the same state (draw index,
            // penalties, text held back by the detokenizer and the stop filter), emitting nothing:
            // the client has that text already.
            FinishReason ended = null;
            SamplingOptions options = request.sampling();
            for (int i = prompt.length; i < all.length && ended == null; i++) {
                completionTokens++;
                history.add(all[i]);
                boolean stopString = false;
                if (detokenizer != null) {
                    stopString = stopFilter.offer(detokenizer.append(all[i])).stopped();
                }
                if (!options.ignoreEos() && isEos.test(all[i]) || contains(options.stopTokenIds(), all[i])) {
                    ended = FinishReason.STOP;
                } else if (stopString) {
                    ended = FinishReason.STOP_STRING;
                } else if (options.maxTokens() > 0 && completionTokens >= options.maxTokens()
                        || prompt.length + completionTokens >= maxModelLen) {
                    ended = FinishReason.LENGTH;
                }
            }
            this.endedBeforeResume = ended;
        }
    }
}
