package dev.quire.scheduler.engine;

/**
 * One generation as the engine receives it: the prompt is already tokenized.
 *
 * <p>A request can continue a generation another engine began and lost (its worker died): the
 * prompt then ends with the {@code resumedTokens} tokens already generated and delivered, and the
 * engine carries on as if it had generated them itself: the same seeded draws (sampling continues
 * at draw {@code resumedTokens}), the same penalties, the same text state, so that the whole output
 * is the one an uninterrupted run gives. Those tokens are not emitted again.
 *
 * @param requestId      unique among the engine's live requests
 * @param promptTokenIds the prompt, each id in [0, vocab size), followed by the resumed tokens
 * @param sampling       how to pick tokens (max_tokens counts the resumed tokens too)
 * @param priority       lower runs first among waiting requests; ties are first come, first served
 * @param resumedTokens  how many trailing tokens of {@code promptTokenIds} are this request's own
 *                       earlier output; 0 for a new request
 */
public record GenerationRequest(String requestId, int[] promptTokenIds, SamplingOptions sampling, int priority,
                                int resumedTokens) {
    public GenerationRequest {
        if (requestId == null || requestId.isEmpty()) {
            throw new InvalidRequestException("request_id", "must be non-empty");
        }
        if (promptTokenIds == null || promptTokenIds.length == 0) {
            throw new InvalidRequestException("prompt", "must not be empty");
        }
        if (resumedTokens < 0 || resumedTokens >= promptTokenIds.length) {
            throw new InvalidRequestException("resumed_tokens", "must be in [0, " + promptTokenIds.length
                    + "), got " + resumedTokens);
        }
        promptTokenIds = promptTokenIds.clone();
    }

    public GenerationRequest(String requestId, int[] promptTokenIds, SamplingOptions sampling, int priority) {
        this(requestId, promptTokenIds, sampling, priority, 0);
    }

    public GenerationRequest(String requestId, int[] promptTokenIds, SamplingOptions sampling) {
        this(requestId, promptTokenIds, sampling, 0, 0);
    }

    /**
     * Checks that the prompt fits an engine serving sequences of at most {@code maxModelLen}
     * tokens over a vocabulary of {@code vocabSize}: every engine, local or remote, applies the same
     * check with the same messages.
     *
     * @throws InvalidRequestException naming {@code prompt} or {@code prompt_token_ids}
     */
    public void checkFits(int maxModelLen, int vocabSize) {
        if (promptTokenIds.length >= maxModelLen) {
            throw new InvalidRequestException("prompt", "has " + promptTokenIds.length + " tokens; the model's context is "
                    + maxModelLen + " tokens and must leave room for at least one generated token");
        }
        for (int t : promptTokenIds) {
            if (t < 0 || t >= vocabSize) {
                throw new InvalidRequestException("prompt_token_ids", "token id " + t + " is outside [0, " + vocabSize
                        + ")");
            }
        }
    }

    /** Tokens of the prompt the client sent, without the resumed ones. */
    public int promptLength() {
        return promptTokenIds.length - resumedTokens;
    }

    /**
     * How this request ended if {@code delivered} (its own output so far) already ends it: by
     * length (max_tokens or the context of {@code maxModelLen}) or by a stop token id; null when it
     * goes on. A request continued elsewhere checks this first, so that the output delivered just
     * before its worker or gateway was lost is never followed by one token too many.
     */
    public FinishReason endedBy(int[] delivered, int maxModelLen) {
        if (delivered.length == 0) {
            return null;
        }
        int last = delivered[delivered.length - 1];
        for (int id : sampling.stopTokenIds()) {
            if (id == last) {
                return FinishReason.STOP;
            }
        }
        int generated = resumedTokens + delivered.length;
        if (sampling.maxTokens() > 0 && generated >= sampling.maxTokens()
                || promptLength() + generated >= maxModelLen) {
            return FinishReason.LENGTH;
        }
        return null;
    }

    /** This request continued: {@code generated} more tokens appended to the prompt and counted as resumed. */
    public GenerationRequest resumedWith(int[] generated) {
        int[] prompt = java.util.Arrays.copyOf(promptTokenIds, promptTokenIds.length + generated.length);
        System.arraycopy(generated, 0, prompt, promptTokenIds.length, generated.length);
        return new GenerationRequest(requestId, prompt, sampling, priority, resumedTokens + generated.length);
    }
}
