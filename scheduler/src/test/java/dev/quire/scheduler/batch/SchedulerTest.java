package dev.quire.scheduler.batch;

import dev.quire.scheduler.engine.FinishReason;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class SchedulerTest {

    private static int[] prompt(int length) {
        return prompt(1, length);
    }

    private static int[] prompt(int firstToken, int length) {
        return IntStream.range(firstToken, firstToken + length).toArray();
    }

    private static SchedulerConfig config(int numBlocks, int blockSize, int maxBatchedTokens, int maxSeqs,
                                          int maxModelLen) {
        return new SchedulerConfig(numBlocks, blockSize, maxBatchedTokens, maxSeqs, maxModelLen, true, 0L);
    }

    private static Sequence add(Scheduler scheduler, String id, int[] prompt) {
        Sequence seq = new Sequence(id, prompt, 0);
        scheduler.add(seq);
        return seq;
    }

    /** plan() + commit() with sampled token 1000 + step index for every item. */
    private static StepPlan step(Scheduler scheduler) {
        StepPlan plan = scheduler.plan();
        int[] sampled = new int[plan.items().size()];
        Arrays.fill(sampled, 1000 + (int) plan.stepIndex());
        scheduler.commit(plan, sampled);
        return plan;
    }

    private static ScheduledSequence item(StepPlan plan, String requestId) {
        return plan.items().stream().filter(i -> i.requestId().equals(requestId)).findFirst().orElseThrow();
    }

    // ---- configuration and admission checks ----

    @Test
    void configRejectsNonPositiveValuesByName() {
        assertThatThrownBy(() -> new SchedulerConfig(0, 16, 1, 1, 1, true, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("numBlocks");
        assertThatThrownBy(() -> new SchedulerConfig(1, 0, 1, 1, 1, true, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("blockSize");
        assertThatThrownBy(() -> new SchedulerConfig(1, 16, 0, 1, 1, true, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxBatchedTokens");
        assertThatThrownBy(() -> new SchedulerConfig(1, 16, 1, -1, 1, true, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxSeqs");
        assertThatThrownBy(() -> new SchedulerConfig(1, 16, 1, 1, 0, true, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxModelLen");
    }

    @Test
    void defaultsAreTheDocumentedOnes() {
        SchedulerConfig config = SchedulerConfig.defaults(100, 4096);

        assertThat(config).isEqualTo(new SchedulerConfig(100, 16, 2048, 256, 4096, true, 0L));
    }

    @Test
    void addRejectsPromptsWithoutRoomToGenerate() {
        Scheduler scheduler = new Scheduler(config(100, 4, 64, 8, 10));

        assertThatThrownBy(() -> add(scheduler, "a", prompt(10)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxModelLen");
        add(scheduler, "b", prompt(9));
    }

    @Test
    void addRejectsPromptsThePoolCouldNeverHold() {
        Scheduler scheduler = new Scheduler(config(2, 4, 64, 8, 100));

        assertThat(scheduler.maxSequenceLength()).isEqualTo(8);
        assertThatThrownBy(() -> add(scheduler, "a", prompt(8)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("pool");
        add(scheduler, "b", prompt(7));
    }

    @Test
    void addRejectsDuplicatesButAllowsReusingAFinishedId() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));
        Sequence first = add(scheduler, "a", prompt(3));

        assertThatThrownBy(() -> add(scheduler, "a", prompt(3)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("duplicate");
        assertThatThrownBy(() -> scheduler.add(first))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("already added");
        scheduler.finish("a", FinishReason.STOP);
        add(scheduler, "a", prompt(3));
    }

    @Test
    void sequenceRejectsEmptyPrompts() {
        assertThatThrownBy(() -> new Sequence("a", new int[0], 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Sequence("", new int[] {1}, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    // ---- the basic life cycle ----

    @Test
    void sequenceIsPrefilledThenDecodedOneTokenPerStep() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));
        Sequence seq = add(scheduler, "a", prompt(6));
        assertThat(seq.status()).isEqualTo(SequenceStatus.WAITING);
        assertThat(scheduler.hasWork()).isTrue();

        StepPlan prefill = scheduler.plan();
        ScheduledSequence p = prefill.items().get(0);
        assertThat(seq.status()).isEqualTo(SequenceStatus.RUNNING);
        assertThat(p.startPosition()).isZero();
        assertThat(p.tokenIds()).containsExactly(1, 2, 3, 4, 5, 6);
        assertThat(p.samples()).isTrue();
        assertThat(p.blockTable()).hasSize(2);
        assertThat(p.slotMapping()).containsExactly(
                p.blockTable()[0] * 4, p.blockTable()[0] * 4 + 1, p.blockTable()[0] * 4 + 2,
                p.blockTable()[0] * 4 + 3, p.blockTable()[1] * 4, p.blockTable()[1] * 4 + 1);
        scheduler.commit(prefill, new int[] {42});
        assertThat(seq.outputTokenIds()).containsExactly(42);
        assertThat(seq.numComputedTokens()).isEqualTo(6);
        assertThat(seq.length()).isEqualTo(7);

        StepPlan decode = scheduler.plan();
        ScheduledSequence d = decode.items().get(0);
        assertThat(d.startPosition()).isEqualTo(6);
        assertThat(d.tokenIds()).containsExactly(42);
        assertThat(d.contextLength()).isEqualTo(7);
        assertThat(d.samples()).isTrue();
        assertThat(d.slotMapping()).containsExactly(d.blockTable()[1] * 4 + 2);
        scheduler.commit(decode, new int[] {43});
        assertThat(seq.outputTokenIds()).containsExactly(42, 43);
        assertThat(seq.tokenAt(7)).isEqualTo(43);
        assertThat(seq.numOutputTokens()).isEqualTo(2);
    }

    @Test
    void emptySchedulerPlansNothing() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));

        StepPlan plan = scheduler.plan();

        assertThat(plan.isEmpty()).isTrue();
        assertThat(plan.totalTokens()).isZero();
        assertThat(scheduler.hasWork()).isFalse();
        scheduler.commit(plan, new int[0]);
    }

    @Test
    void stepIndexIncreasesAndStatsFollow() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));
        add(scheduler, "a", prompt(5));

        assertThat(step(scheduler).stepIndex()).isZero();
        assertThat(scheduler.stats().lastStepTokens()).isEqualTo(5);
        assertThat(step(scheduler).stepIndex()).isEqualTo(1);
        SchedulerStats stats = scheduler.stats();
        assertThat(stats.stepsPlanned()).isEqualTo(2);
        assertThat(stats.lastStepTokens()).isEqualTo(1);
        assertThat(stats.running()).isEqualTo(1);
        assertThat(stats.waiting()).isZero();
        assertThat(stats.kvBlocksUsed()).isEqualTo(2);
        assertThat(stats.kvBlocksTotal()).isEqualTo(10);
        assertThat(stats.kvCacheUsage()).isEqualTo(0.2);
    }

    // ---- ordering, budget and cap ----

    @Test
    void runningSequencesAreScheduledBeforeNewOnes() {
        Scheduler scheduler = new Scheduler(config(20, 4, 64, 8, 100));
        add(scheduler, "a", prompt(3));
        step(scheduler);
        add(scheduler, "b", prompt(5));

        StepPlan plan = step(scheduler);

        assertThat(plan.items()).extracting(ScheduledSequence::requestId).containsExactly("a", "b");
        assertThat(plan.items().get(0).numTokens()).isEqualTo(1);
        assertThat(plan.items().get(1).numTokens()).isEqualTo(5);
    }

    @Test
    void longPromptIsPrefilledInChunksOfTheBudget() {
        Scheduler scheduler = new Scheduler(config(40, 4, 32, 8, 200));
        Sequence seq = add(scheduler, "a", prompt(100));

        int[] starts = new int[4];
        int[] sizes = new int[4];
        boolean[] samples = new boolean[4];
        for (int i = 0; i < 4; i++) {
            ScheduledSequence item = step(scheduler).items().get(0);
            starts[i] = item.startPosition();
            sizes[i] = item.numTokens();
            samples[i] = item.samples();
            assertThat(item.blockTable()).hasSize((item.contextLength() + 3) / 4);
        }

        assertThat(starts).containsExactly(0, 32, 64, 96);
        assertThat(sizes).containsExactly(32, 32, 32, 4);
        assertThat(samples).containsExactly(false, false, false, true);
        assertThat(seq.numOutputTokens()).isEqualTo(1);
        assertThat(seq.numComputedTokens()).isEqualTo(100);
    }

    @Test
    void newPromptsGetWhatTheDecodesLeaveOfTheBudget() {
        Scheduler scheduler = new Scheduler(config(40, 4, 10, 8, 200));
        add(scheduler, "a", prompt(2));
        add(scheduler, "b", prompt(2));
        step(scheduler);
        add(scheduler, "c", prompt(30));

        StepPlan plan = step(scheduler);

        assertThat(plan.items()).extracting(ScheduledSequence::numTokens).containsExactly(1, 1, 8);
        assertThat(plan.totalTokens()).isEqualTo(10);
        assertThat(item(plan, "c").samples()).isFalse();
    }

    @Test
    void budgetAndSequenceCapAreNeverExceeded() {
        Scheduler scheduler = new Scheduler(config(100, 4, 10, 3, 200));
        for (int i = 0; i < 5; i++) {
            add(scheduler, "s" + i, prompt(4));
        }

        StepPlan first = step(scheduler);
        assertThat(first.items()).extracting(ScheduledSequence::numTokens).containsExactly(4, 4, 2);
        assertThat(first.totalTokens()).isEqualTo(10);

        StepPlan second = step(scheduler);
        // Still three running; s3 and s4 wait for a slot even though budget is left.
        assertThat(second.items()).extracting(ScheduledSequence::requestId).containsExactly("s0", "s1", "s2");
        assertThat(second.totalTokens()).isEqualTo(4);
        assertThat(scheduler.stats().running()).isEqualTo(3);
        assertThat(scheduler.stats().waiting()).isEqualTo(2);

        scheduler.finish("s1", FinishReason.STOP);
        StepPlan third = step(scheduler);
        assertThat(third.items()).extracting(ScheduledSequence::requestId).containsExactly("s0", "s2", "s3");
    }

    @Test
    void lowerPriorityValuesAreAdmittedFirstAndEqualPrioritiesInArrivalOrder() {
        Scheduler scheduler = new Scheduler(config(100, 4, 100, 2, 200));
        scheduler.add(new Sequence("late-low", prompt(2), 5));
        scheduler.add(new Sequence("first", prompt(2), 1));
        scheduler.add(new Sequence("second", prompt(2), 1));
        scheduler.add(new Sequence("urgent", prompt(2), 0));

        assertThat(step(scheduler).items()).extracting(ScheduledSequence::requestId)
                .containsExactly("urgent", "first");
        scheduler.finish("urgent", FinishReason.STOP);
        assertThat(step(scheduler).items()).extracting(ScheduledSequence::requestId)
                .containsExactly("first", "second");
    }

    @Test
    void waitingSequenceThatDoesNotFitIsNotOvertakenByALaterSmallerOne() {
        Scheduler scheduler = new Scheduler(config(6, 4, 64, 8, 100));
        add(scheduler, "a", prompt(12)); // 3 blocks
        step(scheduler);
        add(scheduler, "big", prompt(100, 16)); // needs 4 blocks, 3 are free
        add(scheduler, "small", prompt(200, 2)); // would fit

        StepPlan plan = step(scheduler);

        assertThat(plan.items()).extracting(ScheduledSequence::requestId).containsExactly("a");
        assertThat(scheduler.get("small").status()).isEqualTo(SequenceStatus.WAITING);
        scheduler.finish("a", FinishReason.STOP);
        assertThat(step(scheduler).items()).extracting(ScheduledSequence::requestId).containsExactly("big", "small");
    }

    // ---- preemption ----

    @Test
    void exhaustedPoolPreemptsTheLatestArrivalWhichKeepsItsOutputAndIsReadmittedFirst() {
        // 6 blocks of 2 tokens. a and b each need a 4th block at length 7.
        Scheduler scheduler = new Scheduler(config(6, 2, 64, 8, 100));
        Sequence a = add(scheduler, "a", prompt(1, 4));
        Sequence b = add(scheduler, "b", prompt(50, 4));
        step(scheduler); // prefill both: 2 blocks each
        step(scheduler); // position 4: third block each
        step(scheduler); // position 5
        add(scheduler, "c", prompt(90, 2)); // waits: nothing is free

        StepPlan plan = step(scheduler); // position 6 needs a 4th block for a

        assertThat(plan.preempted()).containsExactly("b");
        assertThat(plan.items()).extracting(ScheduledSequence::requestId).containsExactly("a");
        assertThat(b.status()).isEqualTo(SequenceStatus.PREEMPTED);
        assertThat(b.numComputedTokens()).isZero();
        assertThat(b.blockTable()).isEmpty();
        assertThat(b.outputTokenIds()).containsExactly(1000, 1001, 1002);
        assertThat(a.blockTable()).hasSize(4);
        assertThat(scheduler.stats().preemptions()).isEqualTo(1);
        assertThat(scheduler.stats().waiting()).isEqualTo(2);

        scheduler.finish("a", FinishReason.STOP);
        StepPlan readmit = step(scheduler);

        // b first (head of the waiting queue), recomputing only what its own cached blocks don't cover: a's 4th
        // block evicted b's freed tail block (freed first, so evicted first), blocks 0 and 1 survived.
        assertThat(readmit.items()).extracting(ScheduledSequence::requestId).containsExactly("b", "c");
        assertThat(b.numCachedTokens()).isEqualTo(4);
        assertThat(b.numCachedPromptTokens()).isEqualTo(4);
        assertThat(item(readmit, "b").startPosition()).isEqualTo(4);
        assertThat(item(readmit, "b").tokenIds()).containsExactly(1000, 1001, 1002);
        assertThat(item(readmit, "b").samples()).isTrue();
        assertThat(b.outputTokenIds()).containsExactly(1000, 1001, 1002, 1004);
    }

    @Test
    void sequenceNeedingBlocksPreemptsItselfWhenItIsTheLowestRanked() {
        Scheduler scheduler = new Scheduler(config(4, 2, 64, 8, 100));
        Sequence a = add(scheduler, "a", prompt(1, 3));
        Sequence b = add(scheduler, "b", prompt(50, 4));
        step(scheduler); // a: length 4, 2 blocks; b: length 5, 2 blocks

        StepPlan plan = step(scheduler); // a fits in its block, b needs a third

        assertThat(plan.preempted()).containsExactly("b");
        assertThat(plan.items()).extracting(ScheduledSequence::requestId).containsExactly("a");
        assertThat(a.status()).isEqualTo(SequenceStatus.RUNNING);
        assertThat(b.status()).isEqualTo(SequenceStatus.PREEMPTED);
    }

    @Test
    void victimIsTheLowestPriorityEvenIfItArrivedFirst() {
        Scheduler scheduler = new Scheduler(config(4, 2, 64, 8, 100));
        Sequence background = new Sequence("background", prompt(1, 4), 9);
        scheduler.add(background);
        scheduler.add(new Sequence("interactive", prompt(50, 3), 0));
        StepPlan first = step(scheduler);
        assertThat(first.items()).extracting(ScheduledSequence::requestId)
                .containsExactly("interactive", "background");

        StepPlan plan = step(scheduler); // background needs a third block

        assertThat(plan.preempted()).containsExactly("background");
        assertThat(background.status()).isEqualTo(SequenceStatus.PREEMPTED);
    }

    @Test
    void noAdmissionInAStepThatPreempted() {
        Scheduler scheduler = new Scheduler(config(4, 2, 64, 8, 100));
        add(scheduler, "a", prompt(1, 3));
        add(scheduler, "b", prompt(50, 4));
        step(scheduler);
        add(scheduler, "tiny", prompt(90, 1));

        StepPlan plan = step(scheduler); // b preempts itself, freeing 2 blocks

        assertThat(plan.preempted()).containsExactly("b");
        assertThat(plan.items()).extracting(ScheduledSequence::requestId).containsExactly("a");
    }

    // ---- abort and finish ----

    @Test
    void abortFreesBlocksByTheNextPlanAndIsIdempotent() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));
        Sequence a = add(scheduler, "a", prompt(6));
        add(scheduler, "b", prompt(3));
        step(scheduler);

        scheduler.abort("a");
        scheduler.abort("a");
        scheduler.abort("unknown");
        StepPlan plan = step(scheduler);

        assertThat(a.status()).isEqualTo(SequenceStatus.FINISHED);
        assertThat(a.finishReason()).isEqualTo(FinishReason.ABORTED);
        assertThat(a.blockTable()).isEmpty();
        assertThat(scheduler.get("a")).isNull();
        assertThat(plan.items()).extracting(ScheduledSequence::requestId).containsExactly("b");
        assertThat(scheduler.stats().kvBlocksUsed()).isEqualTo(1);
    }

    @Test
    void itemAbortedBetweenPlanAndCommitIsSkipped() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));
        Sequence a = add(scheduler, "a", prompt(6));
        Sequence b = add(scheduler, "b", prompt(3));
        StepPlan plan = scheduler.plan();

        scheduler.abort("a");
        scheduler.commit(plan, new int[] {7, 8});

        assertThat(a.numOutputTokens()).isZero();
        assertThat(a.numComputedTokens()).isZero();
        assertThat(b.outputTokenIds()).containsExactly(8);
        assertThat(scheduler.stats().kvBlocksUsed()).isEqualTo(1);
    }

    @Test
    void abortingAWaitingSequenceDropsItFromTheQueue() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));
        add(scheduler, "a", prompt(3));
        add(scheduler, "b", prompt(3));

        scheduler.abort("a");

        assertThat(scheduler.stats().waiting()).isEqualTo(1);
        assertThat(step(scheduler).items()).extracting(ScheduledSequence::requestId).containsExactly("b");
    }

    @Test
    void finishFreesBlocksAtOnceAndKeepsFullBlocksCached() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));
        Sequence a = add(scheduler, "a", prompt(9));
        step(scheduler);

        scheduler.finish("a", FinishReason.STOP_STRING);

        assertThat(a.status()).isEqualTo(SequenceStatus.FINISHED);
        assertThat(a.finishReason()).isEqualTo(FinishReason.STOP_STRING);
        assertThat(scheduler.stats().kvBlocksUsed()).isZero();
        assertThat(scheduler.kvCache().pool().numCachedBlocks()).isEqualTo(2);
        assertThat(scheduler.hasWork()).isFalse();
        assertThat(scheduler.get("a")).isNull();
        scheduler.finish("a", FinishReason.STOP); // ignored
        assertThat(a.finishReason()).isEqualTo(FinishReason.STOP_STRING);
    }

    @Test
    void reachingMaxModelLenFinishesWithLength() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 7));
        Sequence a = add(scheduler, "a", prompt(5));

        step(scheduler);
        assertThat(a.status()).isEqualTo(SequenceStatus.RUNNING);
        step(scheduler);

        assertThat(a.length()).isEqualTo(7);
        assertThat(a.status()).isEqualTo(SequenceStatus.FINISHED);
        assertThat(a.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(scheduler.stats().kvBlocksUsed()).isZero();
        assertThat(scheduler.hasWork()).isFalse();
    }

    // ---- commit contract ----

    @Test
    void onlyTheLatestPlanCanBeCommittedOnce() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));
        add(scheduler, "a", prompt(3));
        StepPlan stale = scheduler.plan();
        StepPlan latest = scheduler.plan();

        assertThatThrownBy(() -> scheduler.commit(stale, new int[] {1})).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> scheduler.commit(latest, new int[] {1, 2}))
                .isInstanceOf(IllegalArgumentException.class);
        scheduler.commit(latest, new int[] {1});
        assertThatThrownBy(() -> scheduler.commit(latest, new int[] {1})).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void planningAgainWithoutCommittingRecomputesTheSamePositions() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));
        add(scheduler, "a", prompt(6));

        ScheduledSequence first = scheduler.plan().items().get(0);
        ScheduledSequence again = scheduler.plan().items().get(0);

        assertThat(again.startPosition()).isEqualTo(first.startPosition());
        assertThat(again.slotMapping()).containsExactly(first.slotMapping());
        assertThat(scheduler.stats().kvBlocksUsed()).isEqualTo(2);
    }

    @Test
    void blockTableArraysAreSharedOnlyWhileUnchanged() {
        Scheduler scheduler = new Scheduler(config(10, 4, 64, 8, 100));
        Sequence a = add(scheduler, "a", prompt(2));
        int[] t1 = step(scheduler).items().get(0).blockTable();
        int[] t2 = step(scheduler).items().get(0).blockTable(); // position 2, same block
        step(scheduler); // position 3
        int[] t4 = step(scheduler).items().get(0).blockTable(); // position 4, new block

        assertThat(t2).isSameAs(t1);
        assertThat(t4).hasSize(2).isNotSameAs(t1);
        assertThat(a.blockTable()).isNotSameAs(t4).containsExactly(t4);
    }
}
