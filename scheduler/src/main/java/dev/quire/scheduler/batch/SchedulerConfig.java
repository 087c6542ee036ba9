package dev.quire.scheduler.batch;

/**
 * Static configuration of a {@link Scheduler}.
 *
 * @param numBlocks        physical KV blocks in the pool
 * @param blockSize        token positions per block
 * @param maxBatchedTokens token budget of one step (prefill chunks plus decode tokens)
 * @param maxSeqs          most sequences running at once, and so scheduled in one step
 * @param maxModelLen      the model's context window: no sequence ever exceeds this many tokens (prompt + output)
 * @param prefixCaching    whether full computed blocks are shared through the prefix cache
 * @param cacheSalt        mixed into every block hash, so caches built under different salts never match
 * @param maxPreemptions   how often one sequence may be preempted: once it has been preempted this many times it is
 *                         never preempted again (0: no sequence is ever preempted)
 */
public record SchedulerConfig(int numBlocks, int blockSize, int maxBatchedTokens, int maxSeqs,
                              int maxModelLen, boolean prefixCaching, long cacheSalt, int maxPreemptions) {

    /** The default {@link #maxPreemptions()}. */
    public static final int DEFAULT_MAX_PREEMPTIONS = 3;

    /** With {@link #DEFAULT_MAX_PREEMPTIONS}. */
    public SchedulerConfig(int numBlocks, int blockSize, int maxBatchedTokens, int maxSeqs, int maxModelLen,
                           boolean prefixCaching, long cacheSalt) {
        this(numBlocks, blockSize, maxBatchedTokens, maxSeqs, maxModelLen, prefixCaching, cacheSalt,
                DEFAULT_MAX_PREEMPTIONS);
    }

    public SchedulerConfig {
        requirePositive("numBlocks", numBlocks);
        requirePositive("blockSize", blockSize);
        requirePositive("maxBatchedTokens", maxBatchedTokens);
        requirePositive("maxSeqs", maxSeqs);
        requirePositive("maxModelLen", maxModelLen);
        if ((long) numBlocks * blockSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("numBlocks * blockSize must fit in an int (slot ids), got "
                    + numBlocks + " * " + blockSize);
        }
        if (maxPreemptions < 0) {
            throw new IllegalArgumentException("maxPreemptions must be >= 0, got " + maxPreemptions);
        }
    }

    /**
     * Defaults for a pool of {@code numBlocks}: block size 16, 2048 tokens per step, 256 sequences, prefix caching on,
     * salt 0, at most {@value #DEFAULT_MAX_PREEMPTIONS} preemptions per sequence.
     */
    public static SchedulerConfig defaults(int numBlocks, int maxModelLen) {
        return new SchedulerConfig(numBlocks, 16, 2048, 256, maxModelLen, true, 0L);
    }

    /** Tokens the whole pool can hold. */
    public long capacityTokens() {
        return (long) numBlocks * blockSize;
    }

    private static void requirePositive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be > 0, got " + value);
        }
    }
}
