package dev.quire.gateway.cluster;

import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.cluster.WorkerDirectory;
import dev.quire.scheduler.cluster.WorkerRecord;
import dev.quire.scheduler.engine.EngineUnavailableException;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GeneratedOutput;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.TextCodec;
import dev.quire.scheduler.engine.TokenLogprobs;
import dev.quire.scheduler.kv.BlockHasher;
import dev.quire.scheduler.placement.Candidate;
import dev.quire.scheduler.placement.PlacementPolicy;
import dev.quire.scheduler.placement.PrefixIndex;
import io.vertx.core.Future;

import java.time.Duration;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One model served by the cluster's workers, behind the same engine contract as a local engine.
 * Each request is placed on a worker by the placement policy and streamed over the data plane.
 * A request waits in this gateway's queue (priority, then arrival) while no worker can take it:
 * none serves the model yet, or every one is full (its batch capacity plus {@code workerQueueLimit});
 * it goes to the first worker that frees a slot (the dispatcher's queue timeout bounds the wait).
 * A worker that refuses or loses a request before its first token is skipped and the request placed
 * again; one lost later hands the request to another worker as a continuation (see {@link Pending#onError}).
 */
public final class ClusterEngine implements InferenceEngine {
    /** Most workers one request is offered to (refusals, losses) before it fails. */
    static final int MAX_ATTEMPTS = 8;
    /** How often text work waiting for a ready worker looks again. */
    private static final long TEXT_WAIT_POLL_MILLIS = 50;
    /** The workers hash prefix blocks with the scheduler's default salt. */
    private static final BlockHasher HASHER = new BlockHasher(0L);

    private final ModelInfo model;
    private final WorkerPool pool;
    private final PlacementPolicy policy;
    private final int workerQueueLimit;
    private final PlacementObserver observer;
    private final PrefixIndex prefixIndex = new PrefixIndex();
    /** Per worker: this gateway's requests started minus finished there since its record's version. */
    private final Map<String, LoadDelta> deltas = new ConcurrentHashMap<>();

    /**
     * A worker's record is up to a refresh period old; what this gateway sent it or saw finish
     * since then is known here at once. The record's counts plus this delta are the freshest
     * estimate of the worker's occupancy. A new record version folds the delta in, except for the
     * requests still on their way to the worker's engine (sent, not yet started), which a record
     * may not count yet: erring towards a fuller worker only makes a request wait here a moment,
     * erring the other way makes it wait on a full worker for a whole generation.
     */
    private static final class LoadDelta {
        private long version = Long.MIN_VALUE;
        private int delta;
        private int unstarted;

        synchronized int sinceRecord(long recordVersion) {
            if (recordVersion != version) {
                version = recordVersion;
                delta = unstarted;
            }
            return delta;
        }

        synchronized void sent() {
            delta++;
            unstarted++;
        }

        synchronized void started() {
            unstarted--;
        }

        synchronized void left(boolean started) {
            delta--;
            if (!started) {
                unstarted--;
            }
        }
    }

    private LoadDelta delta(String workerId) {
        return deltas.computeIfAbsent(workerId, k -> new LoadDelta());
    }
    private final PriorityQueue<Pending> queue = new PriorityQueue<>(
            Comparator.comparingInt((Pending p) -> p.request.priority()).thenComparingLong(p -> p.arrival));
    private final AtomicLong arrivals = new AtomicLong();
    private final long pumpTimer;
    private final TextCodec text = new RemoteText();
    /** How long a request that lost its worker may wait in the queue for another one. */
    private final Duration requeueTimeout;

    public ClusterEngine(ModelInfo model, WorkerPool pool, PlacementPolicy policy, int workerQueueLimit,
                         PlacementObserver observer, Duration requeueTimeout) {
        this.model = model;
        this.requeueTimeout = requeueTimeout;
        this.pool = pool;
        this.policy = policy;
        this.workerQueueLimit = workerQueueLimit;
        this.observer = observer;
        pool.onDeparture(id -> {
            deltas.remove(id);
            prefixIndex.remove(id);
        });
        this.pumpTimer = pool.vertx().setPeriodic(20, t -> pump());
    }

    @Override
    public ModelInfo model() {
        return model;
    }

    @Override
    public TextCodec text() {
        return text;
    }

    /** Some worker that serves the model is ready, and its record fresh: a request can be placed. */
    @Override
    public boolean alive() {
        return !pool.directory().candidates(model.name()).isEmpty();
    }

    /** The model's load summed over the workers that serve it. */
    @Override
    public SchedulerStats stats() {
        int running = 0;
        int waiting = 0;
        int used = 0;
        int total = 0;
        long queries = 0;
        long hits = 0;
        for (WorkerDirectory.Entry e : pool.directory().all()) {
            WorkerRecord r = e.record();
            if (r.models().contains(model.name())) {
                running += r.running();
                waiting += r.waiting();
                used += r.kvBlocksUsed();
                total += r.kvBlocksTotal();
                queries += r.prefixQueryTokens();
                hits += r.prefixHitTokens();
            }
        }
        synchronized (queue) {
            waiting += queue.size();
        }
        return new SchedulerStats(running, waiting, used, total, queries, hits, 0, 0, 0);
    }

    @Override
    public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
        request.checkFits(model.maxModelLen(), model.vocabSize());
        // The seed is fixed here, not by the worker: a continuation on another worker then draws the
        // same sequence (draws depend on the seed and the token's index only).
        if (request.sampling().seed() == null) {
            request = new GenerationRequest(request.requestId(), request.promptTokenIds(),
                    request.sampling().withSeed(java.util.concurrent.ThreadLocalRandom.current().nextLong()),
                    request.priority(), request.resumedTokens());
        }
        Pending p = new Pending(request, listener, arrivals.incrementAndGet());
        if (!tryPlace(p)) {
            synchronized (queue) {
                queue.add(p);
            }
        }
        return RequestHandle.of(request.requestId(), p::cancel);
    }

    /**
     * Takes over a request whose gateway died: first from the worker it ran on, which keeps an
     * orphaned generation running for a grace period and replays all of it to whoever attaches;
     * when that worker is gone or no longer holds it, the client gets {@code delivered} again and
     * the request resumes after it on another worker (the same path as a lost worker's requests).
     */
    @Override
    public RequestHandle resume(GenerationRequest request, String lastWorker, GeneratedOutput delivered,
                                GenerationListener listener) {
        request.checkFits(model.maxModelLen(), model.vocabSize());
        Pending p = new Pending(request, listener, arrivals.incrementAndGet());
        WorkerClient holder = lastWorker.isEmpty() ? null : pool.client(lastWorker);
        if (holder != null) {
            p.attachFirst(delivered);
            p.start(holder);
            return RequestHandle.of(request.requestId(), p::cancel);
        }
        if (!p.replay(delivered)) {
            return RequestHandle.of(request.requestId(), () -> { });
        }
        if (!tryPlace(p)) {
            synchronized (queue) {
                queue.add(p);
            }
        }
        return RequestHandle.of(request.requestId(), p::cancel);
    }

    /** Places queued requests, in order, while some worker has room. */
    private void pump() {
        while (true) {
            Pending head;
            synchronized (queue) {
                head = queue.peek();
                if (head == null) {
                    return;
                }
                if (head.isOver()) {
                    queue.poll();
                    continue;
                }
                if (head.requeueExpired()) {
                    queue.poll();
                    head.failUnplaced();
                    continue;
                }
            }
            if (!tryPlace(head)) {
                return;
            }
            synchronized (queue) {
                queue.remove(head);
            }
        }
    }

    /** Sends {@code p} to the best worker with room; false when none has room now. */
    private boolean tryPlace(Pending p) {
        List<WorkerRecord> records = pool.directory().candidates(model.name());
        List<Candidate> candidates = new ArrayList<>(records.size());
        Map<Integer, long[]> chains = new HashMap<>();
        for (WorkerRecord r : records) {
            if (p.excluded.contains(r.workerId()) || pool.client(r.workerId()) == null) {
                continue;
            }
            int sinceRecord = delta(r.workerId()).sinceRecord(r.version());
            int occupancy = r.running() + r.waiting() + sinceRecord;
            int capacity = r.maxRunning() > 0 ? r.maxRunning() : Integer.MAX_VALUE / 2;
            if (occupancy >= capacity + workerQueueLimit) {
                continue; // full: the request waits here and goes to whichever worker frees a slot first
            }
            int pendingHere = Math.max(0, sinceRecord);
            int cached = 0;
            if (policy.usesPrefixCache() && r.blockSize() > 0) {
                long[] chain = chains.computeIfAbsent(r.blockSize(),
                        size -> HASHER.prefixChain(p.request.promptTokenIds(), size));
                cached = prefixIndex.cachedBlocks(r.workerId(), r.version(), r.prefixHashes(), chain);
            }
            candidates.add(new Candidate(r.workerId(), r.running(), r.waiting(), pendingHere, r.kvBlocksTotal(),
                    r.kvBlocksFree(), cached));
        }
        if (candidates.isEmpty()) {
            return false;
        }
        Candidate chosen = policy.choose(candidates);
        WorkerClient client = pool.client(chosen.workerId());
        if (client == null) {
            return false;
        }
        observer.placed(chosen.workerId(), chosen.cachedBlocks());
        p.start(client);
        return true;
    }

    @Override
    public void close() {
        pool.vertx().cancelTimer(pumpTimer);
        List<Pending> waiting;
        synchronized (queue) {
            waiting = new ArrayList<>(queue);
            queue.clear();
        }
        waiting.forEach(Pending::cancel);
    }

    /** One request from submission to its last callback, over one or more attempts. */
    private final class Pending implements GenerationListener {
        /** As the client asked for it. */
        final GenerationRequest original;
        /** What the next attempt sends: the original, or its continuation after the delivered tokens. */
        GenerationRequest request;
        final GenerationListener listener;
        final long arrival;
        final Set<String> excluded = new HashSet<>();
        private Runnable cancelAttempt;
        private String worker;
        private String lostWorker;
        private boolean scheduled;
        private boolean onWorker;
        /** The engine of the current attempt's worker started it. */
        private boolean startedHere;
        private int[] deliveredIds = new int[16];
        private int delivered;
        private boolean over;
        private int attempts;
        /** Set when a request that lost its worker waits in the queue: by then it must be placed. */
        private long requeueDeadline;
        /**
         * A take-over's first attempt attaches to the generation on its worker instead of starting
         * one; {@code recorded} (the ledger's output) is the fallback should that fail.
         */
        private boolean attach;
        private GeneratedOutput recorded;

        Pending(GenerationRequest request, GenerationListener listener, long arrival) {
            this.original = request;
            this.request = request;
            this.listener = listener;
            this.arrival = arrival;
        }

        void attachFirst(GeneratedOutput ledgerOutput) {
            attach = true;
            recorded = ledgerOutput;
        }

        /**
         * Delivers output recorded elsewhere as this request's own, and continues after it.
         *
         * @return false when that output already ends the request (it was finished here)
         */
        boolean replay(GeneratedOutput output) {
            boolean first;
            synchronized (this) {
                first = !scheduled;
                scheduled = true;
            }
            if (first) {
                listener.onScheduled();
            }
            if (output.size() == 0) {
                return true;
            }
            onTokens(output.tokenIds(), output.text(), output.logprobs());
            FinishReason ended = original.endedBy(output.tokenIds(), model.maxModelLen());
            synchronized (this) {
                request = original.resumedWith(output.tokenIds());
                if (ended == null) {
                    return true;
                }
                over = true;
            }
            listener.onFinish(ended, original.promptTokenIds().length, output.size());
            return false;
        }

        synchronized boolean requeueExpired() {
            return requeueDeadline != 0 && System.nanoTime() - requeueDeadline > 0;
        }

        /** No worker could take it back in time: the client gets UNAVAILABLE naming the reason. */
        void failUnplaced() {
            String lost;
            synchronized (this) {
                if (over) {
                    return;
                }
                over = true;
                lost = lostWorker;
            }
            listener.onError(new EngineUnavailableException("worker " + lost + " was lost while running request "
                    + original.requestId() + " and no other worker serving model '" + model.name()
                    + "' could take it within " + requeueTimeout.toSeconds() + " s"));
        }

        synchronized boolean isOver() {
            return over;
        }

        void start(WorkerClient client) {
            GenerationRequest toSend;
            boolean attaching;
            synchronized (this) {
                if (over) {
                    return;
                }
                attempts++;
                requeueDeadline = 0;
                worker = client.workerId();
                onWorker = true;
                startedHere = false;
                delta(worker).sent();
                toSend = request;
                attaching = attach;
            }
            listener.onPlaced(client.workerId());
            Runnable cancel = attaching ? client.attach(toSend.requestId(), this) : client.generate(toSend, this);
            synchronized (this) {
                cancelAttempt = cancel;
                if (over) {
                    cancel.run();
                }
            }
        }

        /** The attempt on {@link #worker} is over: its slot is free for the next queued request. */
        private boolean leaveWorker() {
            if (!onWorker) {
                return false;
            }
            onWorker = false;
            delta(worker).left(startedHere);
            return true;
        }

        @Override
        public void onScheduled() {
            boolean first;
            synchronized (this) {
                if (onWorker && !startedHere) {
                    startedHere = true;
                    delta(worker).started();
                }
                first = !scheduled && !over;
                scheduled = true;
            }
            if (first) {
                listener.onScheduled();
            }
        }

        @Override
        public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
            synchronized (this) {
                if (over) {
                    return;
                }
                recorded = null; // attached: the worker replays everything
                if (delivered + tokenIds.length > deliveredIds.length) {
                    deliveredIds = java.util.Arrays.copyOf(deliveredIds, Math.max(deliveredIds.length * 2,
                            delivered + tokenIds.length));
                }
                System.arraycopy(tokenIds, 0, deliveredIds, delivered, tokenIds.length);
                delivered += tokenIds.length;
            }
            listener.onTokens(tokenIds, text, logprobs);
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
            boolean freed;
            synchronized (this) {
                freed = leaveWorker();
                if (over) {
                    return;
                }
                over = true;
            }
            listener.onFinish(reason, promptTokens, completionTokens);
            if (freed) {
                pump();
            }
        }

        /**
         * A worker that refuses the request or is lost (its stream broke, it died) does not fail it:
         * before the first token the request is placed again as it was; after some tokens, it
         * continues on another worker from its prompt plus every token already delivered, so the
         * client sees a pause, not an error, a repeat or a gap. Other failures reach the client.
         */
        @Override
        public void onError(Throwable error) {
            String failed;
            boolean resumed;
            GeneratedOutput fallback;
            synchronized (this) {
                leaveWorker();
                if (over) {
                    return;
                }
                fallback = attach ? recorded : null;
                attach = false;
                recorded = null;
            }
            if (fallback != null && error instanceof WorkerUnavailableException) {
                // The orphan is gone from its worker: resume from what the ledger recorded.
                observer.retried(worker);
                synchronized (this) {
                    excluded.add(worker);
                    cancelAttempt = null;
                }
                if (replay(fallback) && !tryPlace(this)) {
                    synchronized (this) {
                        requeueDeadline = System.nanoTime() + requeueTimeout.toNanos();
                    }
                    synchronized (queue) {
                        queue.add(this);
                    }
                }
                return;
            }
            FinishReason ended = null;
            synchronized (this) {
                if (over) {
                    return;
                }
                failed = worker;
                if (!(error instanceof WorkerUnavailableException) || attempts >= MAX_ATTEMPTS) {
                    over = true;
                } else {
                    excluded.add(failed);
                    cancelAttempt = null;
                    lostWorker = failed;
                    if (delivered > 0) {
                        int[] sent = java.util.Arrays.copyOf(deliveredIds, delivered);
                        request = original.resumedWith(sent);
                        ended = original.endedBy(sent, model.maxModelLen());
                        over = ended != null;
                    }
                    requeueDeadline = System.nanoTime() + requeueTimeout.toNanos();
                }
                resumed = delivered > 0;
            }
            if (ended != null) {
                // The lost worker had delivered the last token already; only its Finished event was lost.
                listener.onFinish(ended, original.promptTokenIds().length, delivered);
                return;
            }
            if (isOver()) {
                listener.onError(error);
                return;
            }
            if (resumed) {
                observer.migrated(failed);
                listener.onMigrated(failed);
            } else {
                observer.retried(failed);
            }
            if (!tryPlace(this)) {
                synchronized (queue) {
                    queue.add(this);
                }
            }
        }

        /** Client hang-up, Abort, queue timeout or shutdown: the worker aborts it; it ends as ABORTED here. */
        void cancel() {
            Runnable c;
            int sent;
            synchronized (this) {
                if (over) {
                    return;
                }
                over = true;
                leaveWorker();
                c = cancelAttempt;
                sent = delivered;
            }
            if (c != null) {
                c.run();
            }
            listener.onFinish(FinishReason.ABORTED, request.promptTokenIds().length, sent);
        }
    }

    /**
     * Tokenizes on a worker that serves the model (the least loaded), blocking the calling thread.
     * A worker lost during the call (killed, draining, unreachable) is skipped and the next one
     * asked: text work never fails because one worker went away.
     */
    private final class RemoteText implements TextCodec {
        @Override
        public int[] encode(String text, boolean addSpecialTokens) {
            return onSomeWorker(c -> c.tokenize(text, addSpecialTokens));
        }

        @Override
        public String decode(int[] ids, boolean skipSpecialTokens) {
            return onSomeWorker(c -> c.detokenize(ids, skipSpecialTokens));
        }

        private <T> T onSomeWorker(java.util.function.Function<WorkerClient, Future<T>> call) {
            Set<String> tried = new HashSet<>();
            while (true) {
                WorkerClient client = client(tried);
                try {
                    return await(call.apply(client));
                } catch (WorkerUnavailableException e) {
                    tried.add(client.workerId());
                    if (tried.size() >= MAX_ATTEMPTS) {
                        throw e;
                    }
                }
            }
        }

        /**
         * The least loaded ready worker not in {@code excluded}. While there is none (every worker
         * lost, or restarting), text work waits for one to join, as requests wait in the queue, for
         * up to the queue timeout; then it fails as unavailable.
         */
        private WorkerClient client(Set<String> excluded) {
            long deadline = System.nanoTime() + requeueTimeout.toNanos();
            while (true) {
                WorkerClient best = null;
                int bestLoad = Integer.MAX_VALUE;
                for (WorkerRecord r : pool.directory().candidates(model.name())) {
                    WorkerClient c = pool.client(r.workerId());
                    int load = r.running() + r.waiting();
                    if (c != null && !excluded.contains(r.workerId()) && load < bestLoad) {
                        best = c;
                        bestLoad = load;
                    }
                }
                if (best != null) {
                    return best;
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new EngineUnavailableException("no ready worker serves model '" + model.name()
                            + "' (waited " + requeueTimeout.toSeconds() + " s for one)");
                }
                try {
                    Thread.sleep(TEXT_WAIT_POLL_MILLIS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new EngineUnavailableException("no ready worker serves model '" + model.name() + "'");
                }
            }
        }

        private <T> T await(Future<T> f) {
            try {
                return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : new EngineUnavailableException(
                        e.getCause().getMessage(), e.getCause());
            } catch (java.util.concurrent.TimeoutException e) {
                throw new EngineUnavailableException("the worker did not answer within 60 s");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new EngineUnavailableException("interrupted");
            }
        }
    }
}
