package dev.quire.loadtest.driver;

/**
 * What one request did, as measured by the client.
 *
 * @param sendNanos        {@link System#nanoTime()} when the request was sent
 * @param e2elNanos        end-to-end latency: send to the end of the response
 * @param chunkOffsets     for each token-carrying chunk, nanoseconds from send to its arrival (empty when not
 *                         streaming)
 * @param chunkTokens      tokens in each of those chunks (1 each over HTTP, where chunks carry text)
 * @param streamed         whether per-token timing was measured
 * @param promptTokens     prompt tokens: the server's usage when it reported one, else the workload's count
 * @param outputTokens     output tokens: the server's usage when it reported one, else the tokens seen
 * @param requestedTokens  {@code max_tokens} asked for
 * @param finishReason     the server's finish reason, normalized ("stop", "length", "abort", ...), or null
 * @param outcome          completed, failed or truncated
 * @param duplicated       whether the stream delivered some token index twice (or its count went backwards)
 * @param errorKind        for failures: a short kind such as {@code connect}, {@code timeout},
 *                         {@code grpc_UNAVAILABLE}, {@code http_503}; else null
 * @param errorMessage     for failures: the message; else null
 * @param retries          times the request was sent again on a new connection because the reused one it was
 *                         written on closed before any of the response arrived (HTTP only)
 */
public record RequestResult(long sendNanos, long e2elNanos, long[] chunkOffsets, int[] chunkTokens, boolean streamed,
                            int promptTokens, int outputTokens, int requestedTokens, String finishReason,
                            Outcome outcome, boolean duplicated, String errorKind, String errorMessage, int retries) {

    /** A result of a request that was sent once. */
    public RequestResult(long sendNanos, long e2elNanos, long[] chunkOffsets, int[] chunkTokens, boolean streamed,
                         int promptTokens, int outputTokens, int requestedTokens, String finishReason,
                         Outcome outcome, boolean duplicated, String errorKind, String errorMessage) {
        this(sendNanos, e2elNanos, chunkOffsets, chunkTokens, streamed, promptTokens, outputTokens, requestedTokens,
                finishReason, outcome, duplicated, errorKind, errorMessage, 0);
    }

    /** Time to first token in nanoseconds, or -1 when no token arrived or timing was not streamed. */
    public long ttftNanos() {
        return streamed && chunkOffsets.length > 0 ? chunkOffsets[0] : -1;
    }

    /**
     * Time per output token after the first, {@code (e2el - ttft) / (output tokens - 1)}, in nanoseconds; -1
     * when undefined (fewer than two output tokens, or not streamed).
     */
    public double tpotNanos() {
        long ttft = ttftNanos();
        if (ttft < 0 || outputTokens < 2) {
            return -1;
        }
        return (double) (e2elNanos - ttft) / (outputTokens - 1);
    }

    /** Tokens seen in the stream's chunks. */
    public int tokensSeen() {
        int n = 0;
        for (int t : chunkTokens) {
            n += t;
        }
        return n;
    }
}
