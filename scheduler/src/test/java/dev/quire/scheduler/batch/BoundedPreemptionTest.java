package dev.quire.scheduler.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.quire.scheduler.engine.FinishReason;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The preemption bound: no sequence is preempted more than {@link SchedulerConfig#maxPreemptions()} times, a protected
 * sequence is never the victim, preempted sequences resume oldest first, and every sequence still finishes.
 */
class BoundedPreemptionTest {

    private static final int WORKLOADS_PER_SEED = 50;

    // Summed over all workloads: the workloads must actually push sequences to the bound.
    private static long sequencesAtTheBound;
    private static long totalPreemptions;

    @AfterAll
    static void workloadsReachedTheBound() {
        assertThat(totalPreemptions).isGreaterThan(10_000L);
        assertThat(sequencesAtTheBound).isGreaterThan(1_000L);
    }

    static LongStream seeds() {
        return LongStream.range(0, 16);
    }

    /**
     * Many sequences on a pool of a few blocks, with the engine-like rule that a sequence ends once it has its target
     * number of output tokens (or at the length limit). Checked after every step: nobody beyond the bound, no
     * protected victim; at the end: everyone finished with all its tokens, within a step count that rules out
     * livelock.
     */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void manySequencesOnATinyPoolAreEachPreemptedAtMostTheBoundAndAllFinish(long seed) {
        Random seeds = new Random(seed);
        for (int w = 0; w < WORKLOADS_PER_SEED; w++) {
            long workloadSeed = seeds.nextLong();
            try {
                runWorkload(new Random(workloadSeed));
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("workload seed " + workloadSeed + ": " + e.getMessage(), e);
            }
        }
    }

    private static void runWorkload(Random rnd) {
        int blockSize = 1 + rnd.nextInt(4);
        int numBlocks = 2 + rnd.nextInt(12);
        int maxModelLen = 4 + rnd.nextInt(40);
        int maxPreemptions = rnd.nextInt(5);
        SchedulerConfig config = new SchedulerConfig(numBlocks, blockSize, 1 + rnd.nextInt(64), 1 + rnd.nextInt(16),
                maxModelLen, rnd.nextBoolean(), 0L, maxPreemptions);
        Scheduler scheduler = new Scheduler(config);
        int limit = scheduler.maxSequenceLength();
        boolean priorities = rnd.nextBoolean();

        int numSequences = 20 + rnd.nextInt(40);
        List<Sequence> all = new ArrayList<>();
        Map<String, Integer> targetOutput = new HashMap<>();
        int nextId = 0;
        long steps = 0;
        long maxSteps = 0;
        while (nextId < numSequences || scheduler.hasWork()) {
            // Arrivals: a burst up front, then a trickle while the pool is under pressure.
            int arrivals = steps == 0 ? numSequences / 2 : rnd.nextInt(3) == 0 ? 1 : 0;
            for (int a = 0; a < arrivals && nextId < numSequences; a++) {
                int promptLength = 1 + rnd.nextInt(Math.max(1, Math.min(limit - 1, 12)));
                int[] prompt = new int[promptLength];
                for (int k = 0; k < promptLength; k++) {
                    prompt[k] = rnd.nextInt(5);
                }
                Sequence seq = new Sequence("s" + nextId++, prompt, priorities ? rnd.nextInt(2) : 0);
                scheduler.add(seq);
                all.add(seq);
                int target = 1 + rnd.nextInt(limit);
                targetOutput.put(seq.requestId(), target);
                // Each sequence alone needs at most its length in steps (one token a step, prefill chunked by at
                // least one token), plus a share for recomputation, which the bound keeps finite.
                maxSteps += 4L * limit * (maxPreemptions + 2) + 10;
            }

            List<Sequence> runningBefore = scheduler.runningOrder();
            StepPlan plan = scheduler.plan();
            steps++;
            if (steps > maxSteps) {
                fail("no progress: " + steps + " steps, " + scheduler.stats());
            }
            for (String id : plan.preempted()) {
                Sequence victim = scheduler.get(id);
                assertThat(victim.numPreemptions()).as("preemptions of %s", id).isLessThanOrEqualTo(maxPreemptions);
                // The victim was unprotected, and every unprotected sequence still running outranks it.
                assertThat(runningBefore).contains(victim);
                assertThat(victim.isPreemptionProtected()).as("protected victim %s", victim).isFalse();
                for (Sequence s : scheduler.runningOrder()) {
                    if (!s.isPreemptionProtected() && Sequence.SERVICE_ORDER.compare(s, victim) > 0) {
                        fail("preempted " + victim + " while the lower-ranked unprotected " + s + " keeps running");
                    }
                }
            }
            int[] sampled = new int[plan.items().size()];
            for (int i = 0; i < sampled.length; i++) {
                sampled[i] = rnd.nextInt(5);
            }
            scheduler.commit(plan, sampled);
            for (ScheduledSequence item : plan.items()) {
                Sequence seq = scheduler.get(item.requestId());
                if (seq != null && item.samples() && seq.numOutputTokens() >= targetOutput.get(seq.requestId())) {
                    scheduler.finish(seq.requestId(), FinishReason.STOP);
                }
            }
        }
        for (Sequence seq : all) {
            assertThat(seq.isFinished()).isTrue();
            assertThat(seq.numPreemptions()).isLessThanOrEqualTo(maxPreemptions);
            int expected = Math.min(targetOutput.get(seq.requestId()), limit - seq.promptLength());
            assertThat(seq.numOutputTokens()).as("output of %s", seq).isEqualTo(expected);
            if (seq.numPreemptions() == maxPreemptions && maxPreemptions > 0) {
                sequencesAtTheBound++;
            }
        }
        assertThat(scheduler.stats().kvBlocksUsed()).isZero();
        totalPreemptions += scheduler.stats().preemptions();
    }

    // ---- the policy, step by step ----

    /** Blocks of 2 tokens, sequences of at most 8 tokens, no prefix caching. */
    private static Scheduler scheduler(int numBlocks, int maxPreemptions) {
        return new Scheduler(new SchedulerConfig(numBlocks, 2, 64, 8, 8, false, 0L, maxPreemptions));
    }

    private static StepPlan step(Scheduler scheduler) {
        StepPlan plan = scheduler.plan();
        scheduler.commit(plan, new int[plan.items().size()]);
        return plan;
    }

    private static List<String> ids(StepPlan plan) {
        return plan.items().stream().map(ScheduledSequence::requestId).toList();
    }

    private static StepPlan stepUntilPreemption(Scheduler scheduler) {
        for (int i = 0; i < 100; i++) {
            StepPlan plan = step(scheduler);
            if (!plan.preempted().isEmpty()) {
                return plan;
            }
        }
        throw new AssertionError("no preemption in 100 steps");
    }

    @Test
    void aSequenceThatReachedTheBoundIsNeverTheVictimEvenWhenItRanksLowest() {
        // 4 blocks of 2 tokens, sequences of up to 8 tokens; one preemption allowed.
        Scheduler scheduler = scheduler(4, 1);
        Sequence low = new Sequence("low", new int[]{1, 2}, 1);
        Sequence high = new Sequence("high", new int[]{3, 4}, 0);
        scheduler.add(low);
        scheduler.add(high);
        // Both grow to 4 tokens (2 blocks each); the 5th token of high needs a block: low, the lowest ranked, goes.
        assertThat(stepUntilPreemption(scheduler).preempted()).containsExactly("low");
        assertThat(low.numPreemptions()).isEqualTo(1);
        scheduler.finish("high", FinishReason.STOP);

        // low comes back protected and runs ahead of a new high-priority sequence, which ranks above it.
        Sequence urgent = new Sequence("urgent", new int[]{5}, 0);
        scheduler.add(urgent);
        StepPlan plan = step(scheduler);
        assertThat(ids(plan)).containsExactly("low", "urgent");
        assertThat(low.isPreemptionProtected()).isTrue();
        assertThat(urgent.isPreemptionProtected()).isFalse();
        assertThat(scheduler.runningOrder()).containsExactly(low, urgent);

        // When low outgrows the pool, urgent is preempted although low is the lowest ranked; low computes its last
        // position in that step and ends at the length limit.
        StepPlan last = stepUntilPreemption(scheduler);
        assertThat(last.preempted()).containsExactly("urgent");
        assertThat(ids(last)).containsExactly("low");
        assertThat(low.numPreemptions()).isEqualTo(1);
        assertThat(low.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(low.numOutputTokens()).isEqualTo(6);
        // urgent resumes, and finishes too.
        while (scheduler.hasWork()) {
            step(scheduler);
        }
        assertThat(urgent.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(urgent.numPreemptions()).isEqualTo(1);
    }

    @Test
    void aProtectedSequenceWaitsUntilThePoolCanHoldItAtFullLengthBesideTheOtherProtectedOnes() {
        // 8 blocks of 2 tokens; maxModelLen 8 = 4 blocks: room for two protected sequences, not three.
        Scheduler scheduler = scheduler(8, 0); // bound 0: every sequence is protected from its first admission
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Sequence s = new Sequence("p" + i, new int[]{i}, 0);
            seqs.add(s);
            scheduler.add(s);
        }
        StepPlan plan = step(scheduler);
        assertThat(ids(plan)).containsExactly("p0", "p1");
        assertThat(seqs.get(2).status()).isEqualTo(SequenceStatus.WAITING);
        // They grow to the full length without anybody being preempted, and p2 follows once p0 ends.
        while (scheduler.get("p0") != null) {
            assertThat(step(scheduler).preempted()).isEmpty();
            assertThat(seqs.get(2).status()).isEqualTo(SequenceStatus.WAITING);
        }
        assertThat(seqs.get(0).finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(ids(step(scheduler))).contains("p2");
        assertThat(scheduler.stats().preemptions()).isZero();
    }
}
