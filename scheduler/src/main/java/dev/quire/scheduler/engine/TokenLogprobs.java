package dev.quire.scheduler.engine;

/**
 * The log-probability of a chosen token and the most likely alternatives at its position.
 *
 * @param tokenId      the token that was chosen
 * @param logprob      its log-probability under the model (before sampling filters)
 * @param topTokenIds  the most likely tokens, most likely first
 * @param topLogprobs  their log-probabilities
 */
public record TokenLogprobs(int tokenId, float logprob, int[] topTokenIds, float[] topLogprobs) {
}
