package dev.quire.scheduler.batch;

import dev.quire.scheduler.engine.FinishReason;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import dev.quire.scheduler.kv.BlockHashFunction;
import dev.quire.scheduler.kv.BlockPool;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Thousands of random workloads (seeded, so failures reproduce) against a simulated engine that writes a fingerprint
 * of each position's prefix into a simulated KV cache and checks, before every computation, that the positions a
 * sequence attends over hold its own prefix. After every plan and commit, every bookkeeping invariant is checked.
 */
class SchedulerPropertyTest {

    private static final int WORKLOADS_PER_SEED = 100;
    private static final int MAX_DRAIN_STEPS = 20_000;

    // Summed over all workloads, to make sure the random workloads reach the interesting paths.
    private static long totalPreemptions;
    private static long totalPrefixHitTokens;
    private static long totalSteps;

    @AfterAll
    static void workloadsExercisedPreemptionAndPrefixHits() {
        assertThat(totalSteps).isGreaterThan(100_000L);
        assertThat(totalPreemptions).isGreaterThan(1_000L);
        assertThat(totalPrefixHitTokens).isGreaterThan(10_000L);
    }

    static LongStream seeds() {
        return LongStream.range(0, 24);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void randomWorkloadsKeepEveryInvariant(long seed) {
        Random seeds = new Random(seed);
        for (int i = 0; i < WORKLOADS_PER_SEED; i++) {
            long workloadSeed = seeds.nextLong();
            try {
                new Workload(workloadSeed).run();
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("workload seed " + workloadSeed + " (test seed " + seed + ", #" + i + "): "
                        + e.getMessage(), e);
            }
        }
    }

    /** What the test knows about one added sequence. */
    private static final class Tracker {
        final Sequence seq;
        final long arrival;
        long[] prefixFingerprints = new long[16];
        int numFingerprints;
        SequenceStatus statusBeforePlan;

        Tracker(Sequence seq, long arrival) {
            this.seq = seq;
            this.arrival = arrival;
        }

        /** A fingerprint of tokens [0, position]: what the K/V at this position depends on. */
        long fingerprint(int position) {
            while (numFingerprints <= position) {
                if (numFingerprints == prefixFingerprints.length) {
                    prefixFingerprints = Arrays.copyOf(prefixFingerprints, numFingerprints * 2);
                }
                long previous = numFingerprints == 0 ? 0x1234_5678L : prefixFingerprints[numFingerprints - 1];
                long mixed = (previous ^ (seq.tokenAt(numFingerprints) + 0x9E3779B97F4A7C15L)) * 0xBF58476D1CE4E5B9L;
                prefixFingerprints[numFingerprints++] = mixed ^ (mixed >>> 29);
            }
            return prefixFingerprints[position];
        }
    }

    private static final class Workload {
        private final Random rnd;
        private final SchedulerConfig config;
        private final Scheduler scheduler;
        private final BlockPool pool;
        private final int blockSize;
        private final boolean equalPriorities;
        private final int vocabulary;
        private final double stopProbability;
        private final int[][] templates;
        private final long[] kvSlots;
        private final Map<Sequence, Tracker> trackers = new IdentityHashMap<>();
        private final List<Tracker> added = new ArrayList<>();
        // Added and not yet seen FINISHED by checkState(); finished sequences never change again.
        private final List<Tracker> active = new ArrayList<>();
        private long nextArrival;
        private long expectedStepIndex;
        private long lastFreshAdmission = -1;
        private int nextId;

        Workload(long seed) {
            rnd = new Random(seed);
            int[] blockSizes = {1, 2, 3, 4, 8};
            blockSize = blockSizes[rnd.nextInt(blockSizes.length)];
            // Pools from a couple of blocks (constant preemption) to comfortably large.
            int numBlocks = 1 + rnd.nextInt(rnd.nextBoolean() ? 8 : 48);
            int maxModelLen = 2 + rnd.nextInt(96);
            int maxBatchedTokens = 1 + rnd.nextInt(rnd.nextBoolean() ? 8 : 64);
            int maxSeqs = 1 + rnd.nextInt(10);
            config = new SchedulerConfig(numBlocks, blockSize, maxBatchedTokens, maxSeqs, maxModelLen,
                    rnd.nextInt(5) != 0, rnd.nextLong(), rnd.nextInt(5));
            // A hash that collides all the time must cost hits, never correctness.
            BlockHashFunction hash = rnd.nextInt(4) == 0
                    ? (parent, tokens, from, length, salt) -> (parent * 31 + tokens[from]) & 3
                    : BlockHashFunction.DEFAULT;
            scheduler = new Scheduler(config, hash);
            pool = scheduler.kvCache().pool();
            equalPriorities = rnd.nextBoolean();
            vocabulary = 2 + rnd.nextInt(20);
            stopProbability = 0.01 + rnd.nextDouble() * 0.2;
            templates = new int[3][];
            for (int t = 0; t < templates.length; t++) {
                templates[t] = randomTokens(96);
            }
            kvSlots = new long[numBlocks * blockSize];
            Arrays.fill(kvSlots, Long.MIN_VALUE);
        }

        void run() {
            int steps = 20 + rnd.nextInt(120);
            for (int i = 0; i < steps; i++) {
                randomEvents(true);
                step();
            }
            int drained = 0;
            while (scheduler.hasWork()) {
                if (++drained > MAX_DRAIN_STEPS) {
                    fail("no progress after " + MAX_DRAIN_STEPS + " steps: " + scheduler.stats());
                }
                randomEvents(false);
                step();
            }
            checkAllReleased();
            SchedulerStats stats = scheduler.stats();
            totalPreemptions += stats.preemptions();
            totalPrefixHitTokens += stats.prefixCacheHitTokens();
            totalSteps += stats.stepsPlanned();
        }

        private int[] randomTokens(int length) {
            int[] tokens = new int[length];
            for (int i = 0; i < length; i++) {
                tokens[i] = rnd.nextInt(vocabulary);
            }
            return tokens;
        }

        private void randomEvents(boolean arrivals) {
            if (arrivals) {
                int count = rnd.nextInt(3);
                for (int i = 0; i < count; i++) {
                    addRandomSequence();
                }
            }
            List<Tracker> live = liveTrackers();
            if (!live.isEmpty() && rnd.nextInt(20) == 0) {
                scheduler.abort(live.get(rnd.nextInt(live.size())).seq.requestId());
            }
            if (!live.isEmpty() && rnd.nextInt(25) == 0) {
                FinishReason reason = FinishReason.values()[rnd.nextInt(3)];
                scheduler.finish(live.get(rnd.nextInt(live.size())).seq.requestId(), reason);
            }
            if (rnd.nextInt(30) == 0) {
                scheduler.abort("never-added");
            }
        }

        private void addRandomSequence() {
            int limit = scheduler.maxSequenceLength();
            String id = "r" + nextId++;
            int priority = equalPriorities ? 0 : rnd.nextInt(3);
            if (rnd.nextInt(20) == 0) {
                Sequence tooLong = new Sequence(id, randomTokens(limit + rnd.nextInt(3)), priority);
                assertThatThrownBy(() -> scheduler.add(tooLong)).isInstanceOf(IllegalArgumentException.class);
                return;
            }
            if (limit < 2) {
                return;
            }
            int length = 1 + rnd.nextInt(Math.min(limit - 1, 64));
            int[] prompt = randomTokens(length);
            if (rnd.nextBoolean()) {
                int[] template = templates[rnd.nextInt(templates.length)];
                System.arraycopy(template, 0, prompt, 0, Math.min(length, rnd.nextInt(length + 1)));
            }
            Sequence seq = new Sequence(id, prompt, priority);
            scheduler.add(seq);
            Tracker tracker = new Tracker(seq, nextArrival++);
            trackers.put(seq, tracker);
            added.add(tracker);
            active.add(tracker);
        }

        private List<Tracker> liveTrackers() {
            List<Tracker> live = new ArrayList<>();
            for (Tracker t : active) {
                if (!t.seq.isFinished()) {
                    live.add(t);
                }
            }
            return live;
        }

        private void step() {
            for (Tracker t : active) {
                t.statusBeforePlan = t.seq.status();
            }
            boolean hadWork = scheduler.hasWork();

            StepPlan plan = scheduler.plan();

            if (hadWork) {
                assertThat(plan.items()).as("a scheduler with work must make progress").isNotEmpty();
            }
            checkPlan(plan);
            checkState();
            execute(plan);
            if (!plan.isEmpty() && rnd.nextInt(20) == 0) {
                scheduler.abort(plan.items().get(rnd.nextInt(plan.items().size())).requestId());
            }
            if (rnd.nextInt(40) == 0) {
                return; // the engine dropped this step; the next plan recomputes it
            }
            int[] sampled = new int[plan.items().size()];
            for (int i = 0; i < sampled.length; i++) {
                sampled[i] = rnd.nextInt(vocabulary);
            }
            scheduler.commit(plan, sampled);
            checkState();
            for (ScheduledSequence item : plan.items()) {
                Sequence seq = scheduler.get(item.requestId());
                if (item.samples() && seq != null && rnd.nextDouble() < stopProbability) {
                    scheduler.finish(item.requestId(), FinishReason.STOP);
                }
            }
        }

        /** The simulated engine: read the attended K/V, then write the new positions' K/V. */
        private void execute(StepPlan plan) {
            for (ScheduledSequence item : plan.items()) {
                Tracker t = trackers.get(scheduler.get(item.requestId()));
                int[] table = item.blockTable();
                for (int p = 0; p < item.startPosition(); p++) {
                    int slot = table[p / blockSize] * blockSize + p % blockSize;
                    if (kvSlots[slot] != t.fingerprint(p)) {
                        fail(item.requestId() + " attends over wrong K/V at position " + p);
                    }
                }
                for (int i = 0; i < item.numTokens(); i++) {
                    int block = item.slotMapping()[i] / blockSize;
                    if (pool.refCount(block) != 1 || pool.hashOf(block) != null) {
                        fail(item.requestId() + " writes K/V into shared or cached block " + block);
                    }
                    kvSlots[item.slotMapping()[i]] = t.fingerprint(item.startPosition() + i);
                }
            }
        }

        private void checkPlan(StepPlan plan) {
            assertThat(plan.stepIndex()).isEqualTo(expectedStepIndex++);
            assertThat(plan.items().size()).isLessThanOrEqualTo(config.maxSeqs());
            int sum = plan.items().stream().mapToInt(ScheduledSequence::numTokens).sum();
            assertThat(plan.totalTokens()).isEqualTo(sum).isLessThanOrEqualTo(config.maxBatchedTokens());
            assertThat(scheduler.stats().lastStepTokens()).isEqualTo(sum);

            Set<String> ids = new HashSet<>();
            List<Tracker> admittedFresh = new ArrayList<>();
            List<Tracker> readmitted = new ArrayList<>();
            boolean admissionSeen = false;
            for (ScheduledSequence item : plan.items()) {
                assertThat(ids.add(item.requestId())).as("scheduled twice").isTrue();
                Sequence seq = scheduler.get(item.requestId());
                assertThat(seq).isNotNull();
                Tracker t = trackers.get(seq);
                assertThat(seq.status()).isEqualTo(SequenceStatus.RUNNING);
                checkItem(item, seq);
                switch (t.statusBeforePlan) {
                    case RUNNING -> assertThat(admissionSeen).as("running sequences come first").isFalse();
                    case WAITING -> {
                        admissionSeen = true;
                        admittedFresh.add(t);
                    }
                    case PREEMPTED -> {
                        admissionSeen = true;
                        readmitted.add(t);
                    }
                    default -> fail("finished sequence scheduled: " + seq);
                }
            }

            for (String id : plan.preempted()) {
                assertThat(ids).doesNotContain(id);
                Tracker t = trackers.get(scheduler.get(id));
                assertThat(t.statusBeforePlan).isEqualTo(SequenceStatus.RUNNING);
                assertThat(t.seq.status()).isEqualTo(SequenceStatus.PREEMPTED);
                assertThat(t.seq.numComputedTokens()).isZero();
                assertThat(t.seq.blockTable()).isEmpty();
            }
            if (!plan.preempted().isEmpty()) {
                assertThat(admissionSeen).as("no admission in a step that preempted").isFalse();
                // Victims are the lowest ranked unprotected ones: every unprotected sequence left running outranks
                // every victim, and no victim was protected or goes beyond the bound.
                for (String id : plan.preempted()) {
                    Sequence victim = scheduler.get(id);
                    assertThat(victim.isPreemptionProtected()).as("protected victim").isFalse();
                    assertThat(victim.numPreemptions()).isLessThanOrEqualTo(config.maxPreemptions());
                    for (Tracker t : active) {
                        if (t.seq.status() == SequenceStatus.RUNNING && !t.seq.isPreemptionProtected()
                                && Sequence.SERVICE_ORDER.compare(t.seq, victim) > 0) {
                            fail("preempted " + victim + " while lower-ranked " + t.seq + " keeps running");
                        }
                    }
                }
            }

            // Decode first: a running sequence is skipped only when the budget is spent (or it was preempted).
            for (Tracker t : active) {
                if (t.statusBeforePlan == SequenceStatus.RUNNING && t.seq.status() == SequenceStatus.RUNNING
                        && !ids.contains(t.seq.requestId())) {
                    assertThat(plan.totalTokens()).isEqualTo(config.maxBatchedTokens());
                    assertThat(admissionSeen).isFalse();
                }
            }

            // Admission order: preempted before fresh, each in (priority, arrival) order; nobody overtaken.
            for (Tracker t : active) {
                if (t.seq.status() == SequenceStatus.PREEMPTED && t.statusBeforePlan == SequenceStatus.PREEMPTED) {
                    assertThat(admittedFresh).as("fresh admitted while a preempted one waits").isEmpty();
                    for (Tracker r : readmitted) {
                        assertThat(Sequence.SERVICE_ORDER.compare(r.seq, t.seq)).isNegative();
                    }
                }
                if (t.seq.status() == SequenceStatus.WAITING) {
                    for (Tracker a : admittedFresh) {
                        assertThat(Sequence.SERVICE_ORDER.compare(a.seq, t.seq)).as("overtaken").isNegative();
                    }
                }
            }
            if (equalPriorities) {
                for (Tracker a : admittedFresh) {
                    assertThat(a.arrival).as("FCFS admission order").isGreaterThan(lastFreshAdmission);
                    lastFreshAdmission = a.arrival;
                }
            }
        }

        private void checkItem(ScheduledSequence item, Sequence seq) {
            int start = item.startPosition();
            int context = item.contextLength();
            assertThat(start).isEqualTo(seq.numComputedTokens());
            assertThat(context).isLessThanOrEqualTo(seq.length());
            assertThat(item.samples()).isEqualTo(context == seq.length());
            for (int i = 0; i < item.numTokens(); i++) {
                if (item.tokenIds()[i] != seq.tokenAt(start + i)) {
                    fail("wrong token at position " + (start + i) + " of " + seq);
                }
            }
            int[] table = item.blockTable();
            assertThat(table.length).isEqualTo((context + blockSize - 1) / blockSize);
            int[] seqTable = seq.blockTable();
            assertThat(Arrays.equals(table, 0, table.length, seqTable, 0, table.length)).isTrue();
            for (int i = 0; i < item.numTokens(); i++) {
                int p = start + i;
                if (item.slotMapping()[i] != table[p / blockSize] * blockSize + p % blockSize) {
                    fail("slot mapping disagrees with the block table at position " + p + " of " + seq);
                }
            }
        }

        private void checkState() {
            int[] owners = new int[config.numBlocks()];
            int[] indexInTable = new int[config.numBlocks()];
            Tracker[] lastOwner = new Tracker[config.numBlocks()];
            Arrays.fill(indexInTable, -1);
            int running = 0;
            int waiting = 0;
            for (var it = active.iterator(); it.hasNext(); ) {
                Tracker t = it.next();
                Sequence seq = t.seq;
                int[] table = seq.blockTable();
                if (seq.length() > scheduler.maxSequenceLength()) {
                    fail(seq + " is longer than " + scheduler.maxSequenceLength());
                }
                if (seq.status() != SequenceStatus.RUNNING && table.length != 0) {
                    fail("only running sequences hold blocks: " + seq);
                }
                switch (seq.status()) {
                    case RUNNING -> running++;
                    case WAITING, PREEMPTED -> waiting++;
                    case FINISHED -> {
                        assertThat(seq.finishReason()).isNotNull();
                        assertThat(scheduler.get(seq.requestId())).isNotSameAs(seq);
                        it.remove();
                        continue;
                    }
                }
                if (scheduler.get(seq.requestId()) != seq) {
                    fail("live sequence not found by id: " + seq);
                }
                if (seq.status() != SequenceStatus.RUNNING) {
                    if (seq.numComputedTokens() != 0) {
                        fail("waiting sequence has computed tokens: " + seq);
                    }
                    continue;
                }
                if (seq.numComputedTokens() < 0 || seq.numComputedTokens() >= seq.length()) {
                    fail("running sequence must have 0 <= computed < length: " + seq);
                }
                if (table.length < (seq.numComputedTokens() + blockSize - 1) / blockSize
                        || table.length > (seq.length() + blockSize - 1) / blockSize) {
                    fail("block table does not match the computed positions: " + seq);
                }
                for (int i = 0; i < table.length; i++) {
                    int block = table[i];
                    if (lastOwner[block] == t) {
                        fail("block " + block + " twice in the table of " + seq);
                    }
                    lastOwner[block] = t;
                    owners[block]++;
                    if (indexInTable[block] >= 0 && indexInTable[block] != i) {
                        fail("shared block " + block + " at different table positions");
                    }
                    indexInTable[block] = i;
                }
                for (int p = 0; p < seq.numComputedTokens(); p++) {
                    int slot = table[p / blockSize] * blockSize + p % blockSize;
                    if (kvSlots[slot] != t.fingerprint(p)) {
                        fail("computed K/V of " + seq + " is wrong at position " + p);
                    }
                }
            }
            int used = 0;
            for (int b = 0; b < config.numBlocks(); b++) {
                if (pool.refCount(b) != owners[b] || pool.isFree(b) != (owners[b] == 0)) {
                    fail("block " + b + " has ref count " + pool.refCount(b) + " but " + owners[b] + " owners");
                }
                if (owners[b] > 1 && pool.hashOf(b) == null) {
                    fail("block " + b + " is shared but not a cached prefix block");
                }
                if (owners[b] > 0) {
                    used++;
                }
            }
            SchedulerStats stats = scheduler.stats();
            if (pool.numUsedBlocks() != used || pool.numFreeBlocks() + pool.numUsedBlocks() != config.numBlocks()
                    || stats.kvBlocksUsed() != used) {
                fail("free/used block counts disagree: used " + used + ", " + stats);
            }
            if (stats.running() != running || running > config.maxSeqs() || stats.waiting() != waiting
                    || scheduler.hasWork() != (running + waiting > 0)) {
                fail("sequence counts disagree: running " + running + ", waiting " + waiting + ", " + stats);
            }
            if (stats.prefixCacheHitTokens() > stats.prefixCacheQueryTokens()) {
                fail("more prefix hits than queries: " + stats);
            }
        }

        private void checkAllReleased() {
            checkState();
            assertThat(active).isEmpty();
            for (Tracker t : added) {
                assertThat(t.seq.status()).isEqualTo(SequenceStatus.FINISHED);
            }
            for (int b = 0; b < config.numBlocks(); b++) {
                assertThat(pool.refCount(b)).isZero();
            }
            assertThat(pool.numFreeBlocks()).isEqualTo(config.numBlocks());
            assertThat(scheduler.stats().kvBlocksUsed()).isZero();
        }
    }
}
