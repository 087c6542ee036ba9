package dev.quire.scheduler.engine;

/**
 * One generation as the engine receives it: the prompt is already tokenized.
 *
 * @param requestId     unique among the engine's live requests
 * @param promptTokenIds the prompt, each id in [0, vocab size)
 * @param sampling      how to pick tokens
 * @param priority      lower runs first among waiting requests; ties are first come, first served
 */
public record GenerationRequest(String requestId, int[] promptTokenIds, SamplingOptions sampling, int priority) {
    public GenerationRequest {
        if (requestId == null || requestId.isEmpty()) {
            throw new InvalidRequestException("request_id", "must be non-empty");
        }
        if (promptTokenIds == null || promptTokenIds.length == 0) {
            throw new InvalidRequestException("prompt", "must not be empty");
        }
        promptTokenIds = promptTokenIds.clone();
    }

    public GenerationRequest(String requestId, int[] promptTokenIds, SamplingOptions sampling) {
        this(requestId, promptTokenIds, sampling, 0);
    }
}
