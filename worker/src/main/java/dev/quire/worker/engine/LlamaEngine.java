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
import dev.quire.scheduler.batch.StepPlan;
import dev.quire.worker.model.ForwardBatch;
import dev.quire.worker.model.LlamaModel;
import dev.quire.worker.model.PagedKvCache;
import dev.quire.worker.model.SafetensorsCheckpoint;
import dev.quire.worker.model.ServedModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
    private final int vocab;
    private final TokenSampler sampler = new TokenSampler();

    private final ConcurrentLinkedQueue<ActiveRequest> arrivals = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<String> cancellations = new ConcurrentLinkedQueue<>();
    /** Ids of requests submitted and not yet finished, to reject duplicates at once. */
    private final Map<String, ActiveRequest> live = new ConcurrentHashMap<>();
    /** Requests the engine thread runs; touched only by that thread. */
    private final Map<String, ActiveRequest> running = new HashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
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

    /** Receives a report after every step, on the engine thread; it must return quickly. */
    public void onStep(java.util.function.Consumer<StepReport> observer) {
        this.stepObserver = observer;
    }

    @Override
    public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
        if (closed.get()) {
            throw new EngineUnavailableException("engine is shut down");
        }
        int[] prompt = request.promptTokenIds();
        if (prompt.length >= maxModelLen) {
            throw new InvalidRequestException("prompt", "has " + prompt.length + " tokens; the model's context is "
                    + maxModelLen + " tokens and must leave room for at least one generated token");
        }
        for (int t : prompt) {
            if (t < 0 || t >= vocab) {
                throw new InvalidRequestException("prompt_token_ids", "token id " + t + " is outside [0, " + vocab + ")");
            }
        }
        SamplingOptions options = request.sampling();
        long seed = options.seed() != null ? options.seed() : ThreadLocalRandom.current().nextLong();
        ActiveRequest active = new ActiveRequest(request, listener, seed, model.tokenizer() == null ? null
                : model.tokenizer().newDetokenizer(prompt));
        if (live.putIfAbsent(request.requestId(), active) != null) {
            throw new InvalidRequestException("request_id", "'" + request.requestId() + "' is already running");
        }
        arrivals.add(active);
        LockSupport.unpark(thread);
        return RequestHandle.of(request.requestId(), () -> {
            cancellations.add(request.requestId());
            LockSupport.unpark(thread);
        });
    }

    private void loop() {
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
            } catch (RuntimeException | Error e) {
                LOG.error("Engine step failed; failing its requests", e);
                failAll(e);
            }
        }
        for (ActiveRequest r : List.copyOf(running.values())) {
            finish(r, FinishReason.ABORTED);
        }
        drainArrivals();
    }

    private void admitAndCancel() {
        ActiveRequest arrival;
        while ((arrival = arrivals.poll()) != null) {
            running.put(arrival.request.requestId(), arrival);
            scheduler.add(new Sequence(arrival.request.requestId(), arrival.request.promptTokenIds(),
                    arrival.request.priority()));
        }
        String cancelled;
        while ((cancelled = cancellations.poll()) != null) {
            ActiveRequest r = running.get(cancelled);
            if (r != null) {
                scheduler.abort(cancelled);
                finish(r, FinishReason.ABORTED);
            }
        }
    }

    private void step() {
        long start = System.nanoTime();
        StepPlan plan = scheduler.plan();
        stats = scheduler.stats();
        List<ScheduledSequence> items = plan.items();
        if (items.isEmpty()) {
            // Nothing fits this step (e.g. all waiting and the pool is full of cached blocks being freed).
            LockSupport.parkNanos(1_000_000L);
            return;
        }
        ForwardBatch.Builder builder = new ForwardBatch.Builder(cache.blockSize());
        for (ScheduledSequence item : items) {
            ActiveRequest r = running.get(item.requestId());
            if (!r.scheduled) {
                r.scheduled = true;
                r.listener.onScheduled();
            }
            builder.add(item.startPosition(), item.tokenIds(), item.slotMapping(), item.blockTable(), item.samples());
        }
        ForwardBatch batch = builder.build();
        long forwardStart = System.nanoTime();
        float[] logits = llama.forward(batch, cache);
        long forwardNanos = System.nanoTime() - forwardStart;
        int blocksUsed = scheduler.stats().kvBlocksUsed();

        int[] sampled = new int[items.size()];
        TokenLogprobs[] logprobs = new TokenLogprobs[items.size()];
        for (int row = 0; row < batch.sampleSeqs().length; row++) {
            int itemIndex = batch.sampleSeqs()[row];
            ActiveRequest r = running.get(items.get(itemIndex).requestId());
            TokenSampler.Sample s = sampler.sample(logits, row * vocab, vocab, r.request.sampling(), r.seed,
                    r.completionTokens, r.history);
            sampled[itemIndex] = s.tokenId();
            logprobs[itemIndex] = s.logprobs();
        }
        scheduler.commit(plan, sampled);
        int decodes = 0;
        long kvTokens = 0;
        for (int i = 0; i < items.size(); i++) {
            ScheduledSequence item = items.get(i);
            decodes += item.numTokens() == 1 ? 1 : 0;
            kvTokens += item.contextLength();
            if (item.samples()) {
                accept(running.get(item.requestId()), sampled[i], logprobs[i]);
            }
        }
        stats = scheduler.stats();
        long stepNanos = System.nanoTime() - start;
        stepMillis = stepMillis == 0 ? stepNanos / 1e6 : 0.8 * stepMillis + 0.2 * stepNanos / 1e6;
        stepObserver.accept(new StepReport(plan.stepIndex(), items.size(), plan.totalTokens(), decodes, forwardNanos,
                System.nanoTime() - start, blocksUsed, kvTokens, cache.blockSize()));
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
                || r.request.promptTokenIds().length + r.completionTokens >= maxModelLen) {
            reason = FinishReason.LENGTH;
        }
        String text = filtered.text();
        if (reason != null && reason != FinishReason.STOP_STRING) {
            if (r.detokenizer != null) {
                text += r.stopFilter.offer(r.detokenizer.flush()).text();
            }
            text += r.stopFilter.flush();
        }
        r.listener.onTokens(new int[]{token}, text, logprobs == null ? null : new TokenLogprobs[]{logprobs});
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
        return new EngineHealth(thread.isAlive() && !closed.get() && !stalled, requestsCompleted.get(), stepMillis,
                prefixHashes);
    }

    @Override
    public int blockSize() {
        return cache.blockSize();
    }

    private void finish(ActiveRequest r, FinishReason reason) {
        requestsCompleted.incrementAndGet();
        running.remove(r.request.requestId());
        live.remove(r.request.requestId());
        r.listener.onFinish(reason, r.request.promptTokenIds().length, r.completionTokens);
    }

    private void failAll(Throwable e) {
        for (ActiveRequest r : List.copyOf(running.values())) {
            scheduler.abort(r.request.requestId());
            running.remove(r.request.requestId());
            live.remove(r.request.requestId());
            r.listener.onError(e);
        }
    }

    private void drainArrivals() {
        ActiveRequest r;
        while ((r = arrivals.poll()) != null) {
            live.remove(r.request.requestId());
            r.listener.onFinish(FinishReason.ABORTED, r.request.promptTokenIds().length, 0);
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

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        LockSupport.unpark(thread);
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
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

        ActiveRequest(GenerationRequest request, GenerationListener listener, long seed,
                      dev.quire.worker.model.IncrementalDetokenizer detokenizer) {
            this.request = request;
            this.listener = listener;
            this.seed = seed;
            this.history = TokenHistory.of(request.promptTokenIds(), request.sampling());
            this.detokenizer = detokenizer;
            this.stopFilter = new StopStringFilter(request.sampling().stop());
        }
    }
}
