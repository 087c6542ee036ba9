package dev.quire.scheduler.batch;

import dev.quire.scheduler.engine.FinishReason;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class PrefixCacheTest {

    private static final int BLOCK = 16;
    private static final int[] SHARED_PREFIX = IntStream.range(0, 10 * BLOCK).map(i -> 1000 + i).toArray();

    private static int[] withSuffix(int... suffix) {
        int[] prompt = Arrays.copyOf(SHARED_PREFIX, SHARED_PREFIX.length + suffix.length);
        System.arraycopy(suffix, 0, prompt, SHARED_PREFIX.length, suffix.length);
        return prompt;
    }

    private static void step(Scheduler scheduler) {
        StepPlan plan = scheduler.plan();
        scheduler.commit(plan, new int[plan.items().size()]);
    }

    @Test
    void secondSequenceSharingATenBlockPrefixWithAFinishedOneComputesOnlyItsSuffix() {
        Scheduler scheduler = new Scheduler(SchedulerConfig.defaults(64, 1024));
        Sequence first = new Sequence("first", withSuffix(1, 2, 3, 4, 5), 0);
        scheduler.add(first);
        step(scheduler);
        step(scheduler);
        int[] firstBlocks = first.blockTable();
        scheduler.finish("first", FinishReason.STOP);
        assertThat(scheduler.stats().kvBlocksUsed()).isZero();

        Sequence second = new Sequence("second", withSuffix(IntStream.range(0, 20).toArray()), 0);
        scheduler.add(second);
        StepPlan plan = scheduler.plan();

        assertThat(second.numComputedTokens()).isEqualTo(160);
        assertThat(second.numCachedPromptTokens()).isEqualTo(160);
        ScheduledSequence item = plan.items().get(0);
        assertThat(item.startPosition()).isEqualTo(160);
        assertThat(item.numTokens()).isEqualTo(20);
        assertThat(item.blockTable()).hasSize(12);
        assertThat(Arrays.copyOf(item.blockTable(), 10)).containsExactly(Arrays.copyOf(firstBlocks, 10));
        SchedulerStats stats = scheduler.stats();
        assertThat(stats.prefixCacheQueryTokens()).isEqualTo(165 + 180);
        assertThat(stats.prefixCacheHitTokens()).isEqualTo(160);
        assertThat(stats.prefixCacheHitRate()).isEqualTo(160.0 / 345);
    }

    @Test
    void runningSequencesShareCachedBlocksWithReferenceCounts() {
        Scheduler scheduler = new Scheduler(SchedulerConfig.defaults(64, 1024));
        Sequence first = new Sequence("first", withSuffix(1), 0);
        scheduler.add(first);
        step(scheduler);

        Sequence second = new Sequence("second", withSuffix(2), 0);
        scheduler.add(second);
        step(scheduler);

        int[] a = first.blockTable();
        int[] b = second.blockTable();
        assertThat(Arrays.copyOf(b, 10)).containsExactly(Arrays.copyOf(a, 10));
        assertThat(b[10]).isNotEqualTo(a[10]);
        for (int i = 0; i < 10; i++) {
            assertThat(scheduler.kvCache().pool().refCount(a[i])).isEqualTo(2);
        }
        assertThat(scheduler.stats().kvBlocksUsed()).isEqualTo(12);
    }

    @Test
    void disabledPrefixCachingRecomputesEverything() {
        Scheduler scheduler = new Scheduler(new SchedulerConfig(64, BLOCK, 2048, 8, 1024, false, 0));
        scheduler.add(new Sequence("first", withSuffix(1), 0));
        step(scheduler);
        scheduler.finish("first", FinishReason.STOP);

        Sequence second = new Sequence("second", withSuffix(1), 0);
        scheduler.add(second);
        scheduler.plan();

        assertThat(second.numComputedTokens()).isZero();
        assertThat(scheduler.stats().prefixCacheHitTokens()).isZero();
        assertThat(scheduler.stats().prefixCacheQueryTokens()).isZero();
    }
}
