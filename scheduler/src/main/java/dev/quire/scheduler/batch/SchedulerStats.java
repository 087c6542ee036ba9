package dev.quire.scheduler.batch;

/**
 * A snapshot of scheduler counters.
 *
 * @param running                sequences RUNNING
 * @param waiting                sequences WAITING or PREEMPTED
 * @param kvBlocksUsed           blocks referenced by at least one sequence
 * @param kvBlocksTotal          blocks in the pool
 * @param prefixCacheQueryTokens tokens looked up in the prefix cache on admission (0 when caching is off)
 * @param prefixCacheHitTokens   of those, tokens served from the cache
 * @param preemptions            sequences preempted so far
 * @param lastStepTokens         tokens in the latest plan
 * @param stepsPlanned           plans produced so far
 */
public record SchedulerStats(int running, int waiting, int kvBlocksUsed, int kvBlocksTotal,
                             long prefixCacheQueryTokens, long prefixCacheHitTokens, long preemptions,
                             int lastStepTokens, long stepsPlanned) {

    /** Fraction of blocks in use, in {@code [0, 1]}. */
    public double kvCacheUsage() {
        return kvBlocksTotal == 0 ? 0.0 : (double) kvBlocksUsed / kvBlocksTotal;
    }

    /** Fraction of queried tokens served from the prefix cache, 0 when nothing was queried. */
    public double prefixCacheHitRate() {
        return prefixCacheQueryTokens == 0 ? 0.0 : (double) prefixCacheHitTokens / prefixCacheQueryTokens;
    }
}
