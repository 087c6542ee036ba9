package dev.quire.loadtest.workload;

/**
 * One request of a workload.
 *
 * @param prompt    what to send
 * @param promptLen prompt length in tokens: exact for token ids, an estimate for text (the server's usage,
 *                  when it reports one, replaces it in the results)
 * @param outputLen tokens to ask for ({@code max_tokens})
 */
public record RequestSpec(Prompt prompt, int promptLen, int outputLen) {
    public RequestSpec {
        if (outputLen < 1) {
            throw new IllegalArgumentException("output length must be >= 1, got " + outputLen);
        }
    }
}
