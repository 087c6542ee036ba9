package dev.quire.scheduler.batch;

import dev.quire.scheduler.engine.FinishReason;

import dev.quire.scheduler.kv.BlockHashFunction;
import dev.quire.scheduler.kv.BlockHasher;
import dev.quire.scheduler.kv.KvCacheManager;
import dev.quire.scheduler.kv.SequenceBlocks;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The continuous-batching step planner: owns every live {@link Sequence} and the KV cache, and decides each engine
 * step what to compute.
 *
 * <p><b>Planning ({@link #plan()}).</b> Running sequences come first, in running order (protected ones first, see
 * below, then priority, then arrival), each getting the rest of its prefill (chunked by the remaining budget) or one
 * decode token. Their blocks grow lazily; when the pool runs dry the scheduler preempts by recompute: the last
 * unprotected running sequence (the lowest-priority, latest-arrived one that is not protected, which is never one
 * already scheduled this step unless it is the one needing blocks) loses its blocks and goes back to the waiting queue
 * with its output kept. Then, if no preemption happened, waiting sequences are admitted in order (preempted ones first,
 * oldest first within a priority) while budget, the sequence cap and free blocks last; the first one that does not fit
 * stops admission, so nobody overtakes it.
 *
 * <p><b>Bounded preemption.</b> A sequence preempted {@link SchedulerConfig#maxPreemptions()} times is <em>protected</em>
 * when it is admitted again: it is never preempted again and runs ahead of every unprotected sequence. So that a
 * protected sequence can always grow by preempting unprotected ones, protected sequences are admitted only while the
 * pool could hold all running protected ones at {@link #maxSequenceLength()} together; until then the protected one
 * waits at the head of the queue (and, as head of line, holds back everyone behind it). No sequence is therefore
 * preempted more than {@code maxPreemptions} times, and every waiting one is admitted once the running ones ahead of it
 * finish or are preempted.
 *
 * <p><b>Length limit.</b> A sequence may hold at most {@link #maxSequenceLength()} tokens, which is
 * {@code maxModelLen} unless the whole pool holds fewer tokens. {@link #add} rejects prompts of that length or more (at
 * least one token must be generatable), and {@link #commit} finishes a sequence with {@link FinishReason#LENGTH} once
 * it reaches it. This bound is also what guarantees progress: any one running sequence alone always fits the pool.
 *
 * <p>Not thread-safe: the engine calls it from one thread. Deterministic: no clocks, no randomness.
 */
public final class Scheduler {

    private final SchedulerConfig config;
    private final KvCacheManager kvCache;
    private final int maxSequenceLength;
    // Blocks a protected sequence may need at most: what each running protected sequence has reserved.
    private final int blocksPerProtected;

    /**
     * The order of the running list: protected sequences first (so that their victims are always found after them),
     * then {@link Sequence#SERVICE_ORDER}. Protection only changes while a sequence is not running.
     */
    static final java.util.Comparator<Sequence> RUNNING_ORDER = java.util.Comparator
            .comparing((Sequence s) -> !s.isPreemptionProtected()).thenComparing(Sequence.SERVICE_ORDER);

    private final Map<String, Sequence> live = new HashMap<>();
    // RUNNING sequences in RUNNING_ORDER; finished ones linger until the next plan() compacts the list.
    private final ArrayList<Sequence> running = new ArrayList<>();
    private final WaitingQueue waiting = new WaitingQueue();
    private int numRunning;
    private int numWaiting;
    private int numProtectedRunning;
    private long nextArrival;

    private long stepsPlanned;
    private long preemptions;
    private int lastStepTokens;

    // The latest plan and its sequences, index-aligned with its items, so commit() needs no id lookups.
    private StepPlan pendingPlan;
    private Sequence[] pendingSequences = new Sequence[0];

    public Scheduler(SchedulerConfig config) {
        this(config, BlockHashFunction.DEFAULT);
    }

    /** With an explicit block hash function: tests use a deliberately colliding one. */
    Scheduler(SchedulerConfig config, BlockHashFunction hashFunction) {
        if (config == null) {
            throw new IllegalArgumentException("config must not be null");
        }
        this.config = config;
        this.kvCache = new KvCacheManager(config.numBlocks(), config.blockSize(), config.prefixCaching(),
                new BlockHasher(config.cacheSalt(), hashFunction));
        this.maxSequenceLength = (int) Math.min(config.maxModelLen(), config.capacityTokens());
        this.blocksPerProtected = kvCache.blocksFor(maxSequenceLength);
    }

    public SchedulerConfig config() {
        return config;
    }

    /** Most tokens (prompt + output) a sequence may reach: {@code min(maxModelLen, numBlocks * blockSize)}. */
    public int maxSequenceLength() {
        return maxSequenceLength;
    }

    /**
     * Queues a new sequence (status WAITING) behind every earlier one of equal priority.
     *
     * @throws IllegalArgumentException if its prompt has {@link #maxSequenceLength()} tokens or more (longer than the
     *     model's context, or more than the whole pool could ever hold, with room for one generated token), if it was
     *     added before, or if a live sequence has the same request id
     */
    public void add(Sequence seq) {
        if (seq == null) {
            throw new IllegalArgumentException("sequence must not be null");
        }
        if (seq.isAdded() || seq.status() != SequenceStatus.WAITING) {
            throw new IllegalArgumentException("sequence " + seq.requestId() + " was already added to a scheduler");
        }
        if (seq.promptLength() >= config.maxModelLen()) {
            throw new IllegalArgumentException("prompt of " + seq.requestId() + " has " + seq.promptLength()
                    + " tokens; maxModelLen " + config.maxModelLen() + " leaves no room to generate");
        }
        if (seq.promptLength() >= maxSequenceLength) {
            throw new IllegalArgumentException("prompt of " + seq.requestId() + " has " + seq.promptLength()
                    + " tokens; the KV pool holds only " + config.capacityTokens() + " tokens in all");
        }
        if (live.containsKey(seq.requestId())) {
            throw new IllegalArgumentException("duplicate request id " + seq.requestId());
        }
        seq.setArrival(nextArrival++);
        live.put(seq.requestId(), seq);
        waiting.add(seq);
        numWaiting++;
    }

    /**
     * Cancels a sequence: it becomes FINISHED({@link FinishReason#ABORTED}) and its blocks are freed at once. Unknown
     * and already finished ids are ignored. If the sequence is in a plan not yet committed, commit skips it.
     */
    public void abort(String requestId) {
        Sequence seq = live.get(requestId);
        if (seq != null) {
            finishLive(seq, FinishReason.ABORTED);
        }
    }

    /**
     * Marks a sequence done for the engine's reason (stop token, length, stop string) and frees its blocks now; full
     * blocks stay findable in the prefix cache until evicted. Unknown and already finished ids are ignored.
     */
    public void finish(String requestId, FinishReason reason) {
        if (reason == null) {
            throw new IllegalArgumentException("reason must not be null");
        }
        Sequence seq = live.get(requestId);
        if (seq != null) {
            finishLive(seq, reason);
        }
    }

    /** Whether any sequence is WAITING, RUNNING or PREEMPTED. */
    public boolean hasWork() {
        return numRunning + numWaiting > 0;
    }

    /** The live (not finished) sequence with this id, or {@code null}. */
    public Sequence get(String requestId) {
        return live.get(requestId);
    }

    /** Chain values of at most {@code limit} blocks in the prefix cache, for the cluster's prefix index. */
    public long[] cachedPrefixHashes(int limit) {
        return kvCache.pool().cachedHashValues(limit);
    }

    public SchedulerStats stats() {
        return new SchedulerStats(numRunning, numWaiting, kvCache.pool().numUsedBlocks(), config.numBlocks(),
                kvCache.prefixQueryTokens(), kvCache.prefixHitTokens(), preemptions, lastStepTokens, stepsPlanned);
    }

    /**
     * Plans one engine step (see the class comment). The returned plan stays committable until the next call to
     * {@code plan()}; planning again without committing simply recomputes the same positions.
     */
    public StepPlan plan() {
        dropFinishedFromRunning();
        int budget = config.maxBatchedTokens();
        int capacity = Math.min(config.maxSeqs(), running.size() + waiting.size());
        List<ScheduledSequence> items = new ArrayList<>(capacity);
        if (pendingSequences.length < capacity) {
            pendingSequences = new Sequence[Math.max(capacity, pendingSequences.length * 2)];
        }
        List<String> preempted = Collections.emptyList();

        // Running sequences first. Victims come off the tail (skipping protected ones), which is never scheduled yet:
        // we walk from the head.
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence seq = running.get(i);
            int numTokens = Math.min(seq.tokensToCompute(), budget);
            boolean seqPreempted = false;
            while (!kvCache.allocateSlots(seq.blocks(), seq.numComputedTokens() + numTokens)) {
                if (preempted.isEmpty()) {
                    preempted = new ArrayList<>();
                }
                int victimIndex = victimIndex(i);
                Sequence victim = running.get(victimIndex);
                if (victim == seq && i == 0) {
                    // Cannot happen while maxSequenceLength <= pool capacity; fail loudly rather than livelock.
                    throw new IllegalStateException("pool of " + config.numBlocks() + " blocks cannot hold " + seq);
                }
                running.remove(victimIndex);
                preempt(victim);
                preempted.add(victim.requestId());
                if (victim == seq) {
                    seqPreempted = true;
                    break;
                }
            }
            if (seqPreempted) {
                i--; // the next running sequence, if any, moved into its place
                continue;
            }
            pendingSequences[items.size()] = seq;
            items.add(schedule(seq, numTokens));
            budget -= numTokens;
        }

        // Then waiting sequences, strictly in queue order, unless this step already had to preempt.
        if (preempted.isEmpty()) {
            while (budget > 0 && running.size() < config.maxSeqs()) {
                Sequence seq = waiting.peek();
                if (seq == null) {
                    break;
                }
                boolean protect = seq.numPreemptions() >= config.maxPreemptions();
                if (protect && (long) (numProtectedRunning + 1) * blocksPerProtected > config.numBlocks()) {
                    break; // its reservation does not fit yet: a running protected sequence must finish first
                }
                int cachedTokens = kvCache.admit(seq.blocks(), seq.tokenArray(), seq.length(), budget);
                if (cachedTokens < 0) {
                    break; // head of line does not fit: nobody may overtake it
                }
                waiting.poll();
                numWaiting--;
                numRunning++;
                seq.markRunning(cachedTokens, protect);
                if (protect) {
                    numProtectedRunning++;
                }
                insertRunning(seq);
                int numTokens = Math.min(seq.tokensToCompute(), budget);
                pendingSequences[items.size()] = seq;
                items.add(schedule(seq, numTokens));
                budget -= numTokens;
            }
        }

        int totalTokens = config.maxBatchedTokens() - budget;
        StepPlan plan = new StepPlan(stepsPlanned++, items, preempted, totalTokens);
        lastStepTokens = totalTokens;
        pendingPlan = plan;
        return plan;
    }

    /**
     * Applies the engine's results for the latest plan: each item's positions become computed, and where the item
     * {@linkplain ScheduledSequence#samples() samples}, {@code sampledTokenIds[i]} is appended to the output. Newly
     * full blocks enter the prefix cache. A sequence reaching {@link #maxSequenceLength()} is finished with
     * {@link FinishReason#LENGTH}. Items whose sequence was aborted or finished since planning are skipped.
     *
     * @param sampledTokenIds one entry per item, index-aligned with {@code plan.items()} (ignored for items that do
     *                        not sample)
     * @throws IllegalStateException    if {@code plan} is not the latest plan, or was already committed
     * @throws IllegalArgumentException if {@code sampledTokenIds} does not have one entry per item
     */
    public void commit(StepPlan plan, int[] sampledTokenIds) {
        if (plan == null || plan != pendingPlan) {
            throw new IllegalStateException("only the latest plan can be committed, and only once");
        }
        List<ScheduledSequence> items = plan.items();
        if (sampledTokenIds == null || sampledTokenIds.length != items.size()) {
            throw new IllegalArgumentException("expected " + items.size() + " sampled token ids, got "
                    + (sampledTokenIds == null ? "null" : sampledTokenIds.length));
        }
        pendingPlan = null;
        for (int i = 0; i < items.size(); i++) {
            ScheduledSequence item = items.get(i);
            Sequence seq = pendingSequences[i];
            pendingSequences[i] = null;
            if (seq.status() != SequenceStatus.RUNNING || seq.numComputedTokens() != item.startPosition()) {
                continue; // aborted or finished since planning
            }
            seq.advanceComputed(item.numTokens());
            if (item.samples()) {
                seq.appendToken(sampledTokenIds[i]);
            }
            kvCache.cacheComputedBlocks(seq.blocks(), seq.tokenArray(), seq.numComputedTokens());
            if (seq.length() >= maxSequenceLength) {
                finishLive(seq, FinishReason.LENGTH);
            }
        }
    }

    // ---- internals ----

    private ScheduledSequence schedule(Sequence seq, int numTokens) {
        int start = seq.numComputedTokens();
        int[] tokens = seq.tokenArray();
        SequenceBlocks blocks = seq.blocks();
        int[] table = blocks.sharedBlockTable();
        int contextBlocks = kvCache.blocksFor(start + numTokens);
        if (table.length != contextBlocks) {
            // Only when an earlier plan was never committed and allocated further ahead than this step reaches.
            table = Arrays.copyOf(table, contextBlocks);
        }
        int[] tokenIds = Arrays.copyOfRange(tokens, start, start + numTokens);
        int[] slotMapping = new int[numTokens];
        for (int k = 0; k < numTokens; k++) {
            slotMapping[k] = kvCache.slotOf(table, start + k);
        }
        boolean samples = start + numTokens == seq.length();
        return new ScheduledSequence(seq.requestId(), start, tokenIds, slotMapping, table, samples);
    }

    /**
     * Where the victim is when the sequence at {@code index} needs blocks: the last unprotected running sequence at
     * {@code index} or after it. Protected sequences run first and together fit the pool (see the class comment), so
     * while one of them needs blocks an unprotected one holds some; the fallback to the last one is for safety only.
     */
    private int victimIndex(int index) {
        for (int j = running.size() - 1; j >= index; j--) {
            if (!running.get(j).isPreemptionProtected()) {
                return j;
            }
        }
        return running.size() - 1;
    }

    private void preempt(Sequence victim) {
        if (victim.isPreemptionProtected()) {
            numProtectedRunning--;
        }
        kvCache.free(victim.blocks());
        victim.markPreempted();
        numRunning--;
        numWaiting++;
        preemptions++;
        waiting.add(victim);
    }

    private void finishLive(Sequence seq, FinishReason reason) {
        switch (seq.status()) {
            case RUNNING -> {
                if (seq.isPreemptionProtected()) {
                    numProtectedRunning--;
                }
                kvCache.free(seq.blocks());
                numRunning--; // removed from `running` by the next plan()
            }
            case WAITING, PREEMPTED -> {
                waiting.remove(seq);
                numWaiting--;
            }
            case FINISHED -> {
                return;
            }
        }
        seq.markFinished(reason);
        live.remove(seq.requestId());
    }

    private void dropFinishedFromRunning() {
        if (running.size() != numRunning) {
            running.removeIf(Sequence::isFinished);
        }
    }

    /** Inserts at the sequence's place in RUNNING_ORDER (a re-admitted sequence regains its old place). */
    private void insertRunning(Sequence seq) {
        int index = Collections.binarySearch(running, seq, RUNNING_ORDER);
        running.add(index < 0 ? -index - 1 : index, seq);
    }

    // ---- test and diagnostics hooks (package-private) ----

    KvCacheManager kvCache() {
        return kvCache;
    }

    /** Live sequences (any order). */
    Collection<Sequence> liveSequences() {
        return Collections.unmodifiableCollection(live.values());
    }

    /** RUNNING sequences in running order. */
    List<Sequence> runningOrder() {
        dropFinishedFromRunning();
        return List.copyOf(running);
    }
}
