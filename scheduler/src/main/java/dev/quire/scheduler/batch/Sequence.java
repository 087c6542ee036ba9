package dev.quire.scheduler.batch;

import dev.quire.scheduler.engine.FinishReason;

import dev.quire.scheduler.kv.SequenceBlocks;
import java.util.Arrays;
import java.util.Comparator;

/**
 * Mutable per-request state owned by the {@link Scheduler}: the tokens (prompt then output), how many of them are
 * in the KV cache, the block table and the life-cycle status.
 *
 * <p>Only the scheduler mutates a sequence; the engine reads it (on the scheduler's thread).
 */
public final class Sequence {

    /**
     * The order the scheduler serves sequences in: lower priority value first, then earlier arrival. Arrival numbers
     * are unique, so this is a total order.
     */
    static final Comparator<Sequence> SERVICE_ORDER =
            Comparator.comparingInt(Sequence::priority).thenComparingLong(Sequence::arrival);

    private static final long NOT_ADDED = -1;

    private final String requestId;
    private final int promptLength;
    private final int priority;
    private final SequenceBlocks blocks = new SequenceBlocks();
    private int[] tokens;
    private int length;
    private int numComputedTokens;
    private int numCachedTokens;
    private SequenceStatus status = SequenceStatus.WAITING;
    private FinishReason finishReason;
    private long arrival = NOT_ADDED;
    private int numPreemptions;
    private boolean preemptionProtected;

    /**
     * @param requestId      unique among the scheduler's live sequences
     * @param promptTokenIds the prompt, at least one token (copied)
     * @param priority       lower values are served first; equal priorities are served in arrival order
     */
    public Sequence(String requestId, int[] promptTokenIds, int priority) {
        if (requestId == null || requestId.isEmpty()) {
            throw new IllegalArgumentException("requestId must be non-empty");
        }
        if (promptTokenIds == null || promptTokenIds.length == 0) {
            throw new IllegalArgumentException("prompt of " + requestId + " must have at least one token");
        }
        this.requestId = requestId;
        this.promptLength = promptTokenIds.length;
        this.priority = priority;
        // Room for some output up front so early decode steps don't reallocate.
        this.tokens = Arrays.copyOf(promptTokenIds, promptLength + Math.max(16, promptLength / 2));
        this.length = promptLength;
    }

    public String requestId() {
        return requestId;
    }

    /** The prompt (a copy). */
    public int[] promptTokenIds() {
        return Arrays.copyOf(tokens, promptLength);
    }

    public int promptLength() {
        return promptLength;
    }

    /** Tokens generated so far (a copy). */
    public int[] outputTokenIds() {
        return Arrays.copyOfRange(tokens, promptLength, length);
    }

    public int numOutputTokens() {
        return length - promptLength;
    }

    /** Prompt plus output tokens. */
    public int length() {
        return length;
    }

    /** The token at {@code position} of prompt followed by output. */
    public int tokenAt(int position) {
        if (position < 0 || position >= length) {
            throw new IndexOutOfBoundsException("position " + position + " outside [0, " + length + ")");
        }
        return tokens[position];
    }

    /** Tokens whose K/V are in the cache (positions {@code [0, numComputedTokens)}). */
    public int numComputedTokens() {
        return numComputedTokens;
    }

    /** Prompt tokens served from the prefix cache on the latest admission. */
    public int numCachedPromptTokens() {
        return Math.min(numCachedTokens, promptLength);
    }

    /**
     * Tokens served from the prefix cache on the latest admission; after a preemption this can include output tokens,
     * which {@link #numCachedPromptTokens()} leaves out.
     */
    public int numCachedTokens() {
        return numCachedTokens;
    }

    public SequenceStatus status() {
        return status;
    }

    /** Why the sequence finished, or {@code null} unless {@link SequenceStatus#FINISHED}. */
    public FinishReason finishReason() {
        return finishReason;
    }

    /** Physical block ids of the positions in the cache, in position order (a copy). */
    public int[] blockTable() {
        return blocks.blockIds();
    }

    public int priority() {
        return priority;
    }

    /** How often the scheduler has preempted this sequence. */
    public int numPreemptions() {
        return numPreemptions;
    }

    public boolean isFinished() {
        return status == SequenceStatus.FINISHED;
    }

    @Override
    public String toString() {
        return "Sequence[" + requestId + ", " + status + ", length=" + length + ", computed=" + numComputedTokens
                + ", blocks=" + blocks.numBlocks() + "]";
    }

    // ---- scheduler-side state, package-private ----

    long arrival() {
        return arrival;
    }

    boolean isAdded() {
        return arrival != NOT_ADDED;
    }

    void setArrival(long arrival) {
        this.arrival = arrival;
    }

    SequenceBlocks blocks() {
        return blocks;
    }

    /** The backing token array; valid in {@code [0, length())}. Not copied: the scheduler hot path reads it. */
    int[] tokenArray() {
        return tokens;
    }

    int tokensToCompute() {
        return length - numComputedTokens;
    }

    /** Whether the scheduler will never preempt this sequence again (set on admission, see {@link Scheduler}). */
    boolean isPreemptionProtected() {
        return preemptionProtected;
    }

    void markRunning(int cachedTokens, boolean preemptionProtected) {
        status = SequenceStatus.RUNNING;
        this.preemptionProtected = preemptionProtected;
        numCachedTokens = cachedTokens;
        numComputedTokens = cachedTokens;
    }

    void markPreempted() {
        status = SequenceStatus.PREEMPTED;
        numComputedTokens = 0;
        numPreemptions++;
    }

    void markFinished(FinishReason reason) {
        status = SequenceStatus.FINISHED;
        finishReason = reason;
    }

    void advanceComputed(int numTokens) {
        numComputedTokens += numTokens;
    }

    void appendToken(int tokenId) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, length + Math.max(16, length / 2));
        }
        tokens[length++] = tokenId;
    }
}
