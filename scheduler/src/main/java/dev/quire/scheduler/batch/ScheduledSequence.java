package dev.quire.scheduler.batch;

/**
 * One sequence's work in a step: compute the K/V (and, if {@link #samples()}, the logits) of
 * {@code tokenIds.length} consecutive positions starting at {@code startPosition}.
 *
 * <p>The arrays are not copied, and {@code blockTable} may be shared with later plans while the sequence's table is
 * unchanged: treat all of them as read-only.
 *
 * @param requestId     the sequence
 * @param startPosition position of {@code tokenIds[0]}; every position below it is already in the KV cache
 * @param tokenIds      the tokens at positions {@code [startPosition, startPosition + tokenIds.length)}
 * @param slotMapping   {@code slotMapping[i] = physicalBlock * blockSize + offset}: where the K/V of position
 *                      {@code startPosition + i} is written
 * @param blockTable    physical blocks covering positions {@code [0, contextLength())}: what the sequence attends over
 * @param samples       whether the last computed position is the sequence's current last token (prefill complete, or a
 *                      decode step), so the engine must sample the next token from its logits
 */
public record ScheduledSequence(String requestId, int startPosition, int[] tokenIds, int[] slotMapping,
                                int[] blockTable, boolean samples) {

    public ScheduledSequence {
        if (tokenIds.length == 0 || tokenIds.length != slotMapping.length) {
            throw new IllegalArgumentException("tokenIds and slotMapping must be non-empty and equally long");
        }
    }

    /** Number of positions computed now. */
    public int numTokens() {
        return tokenIds.length;
    }

    /** Positions in the cache after this step: {@code startPosition + numTokens()}. */
    public int contextLength() {
        return startPosition + tokenIds.length;
    }
}
