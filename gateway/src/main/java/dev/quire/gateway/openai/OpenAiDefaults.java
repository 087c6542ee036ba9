package dev.quire.gateway.openai;

/** What the OpenAI-compatible endpoints assume for fields a request leaves out, for those who show it (the console). */
public final class OpenAiDefaults {
    private OpenAiDefaults() {
    }

    /**
     * The {@code max_tokens} of a {@code /v1/completions} request that sets none.
     *
     * @param serverMaxTokens the server's max-tokens limit, 0 for none
     */
    public static int completionsMaxTokens(int serverMaxTokens) {
        return serverMaxTokens > 0 ? Math.min(CompletionRequest.DEFAULT_MAX_TOKENS, serverMaxTokens)
                : CompletionRequest.DEFAULT_MAX_TOKENS;
    }
}
