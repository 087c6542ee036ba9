package dev.quire.scheduler.engine;

import java.util.List;

/**
 * How one request chooses its next tokens. Validated on construction, so an engine never sees
 * an impossible value; {@link InvalidRequestException} names the offending field.
 *
 * @param maxTokens        most tokens to generate; {@code 0} means "until the context is full"
 * @param temperature      0 for greedy, otherwise the softmax temperature; below
 *                         {@link #MIN_SAMPLING_TEMPERATURE} it is greedy too
 * @param topP             nucleus mass in (0, 1]
 * @param topK             keep the k most likely tokens; 0 keeps all
 * @param minP             drop tokens whose probability is below minP times the top one; 0 disables
 * @param seed             seed of this request's random draws; {@code null} picks one at random
 * @param stop             stop strings (not returned in the output); at most {@link #MAX_STOP_STRINGS}, each
 *                         at most {@link #MAX_STOP_STRING_CHARS} characters
 * @param stopTokenIds     extra token ids that end the sequence (returned in the output); at most
 *                         {@link #MAX_STOP_TOKEN_IDS}
 * @param ignoreEos        keep going past the model's end-of-sequence ids
 * @param repetitionPenalty multiplicative penalty (> 0) on tokens already seen; 1 disables
 * @param presencePenalty  additive penalty in [-2, 2] on tokens already generated
 * @param frequencyPenalty additive penalty in [-2, 2] per occurrence in the generated tokens
 * @param logprobs         how many top log-probabilities to return per token; 0 for none
 */
public record SamplingOptions(
        int maxTokens,
        float temperature,
        float topP,
        int topK,
        float minP,
        Long seed,
        List<String> stop,
        int[] stopTokenIds,
        boolean ignoreEos,
        float repetitionPenalty,
        float presencePenalty,
        float frequencyPenalty,
        int logprobs) {

    /** Most top log-probabilities a request may ask for per token. */
    public static final int MAX_LOGPROBS = 20;
    /** Most stop strings per request: each is matched against every output chunk. */
    public static final int MAX_STOP_STRINGS = 16;
    /** Longest stop string, in chars: the stop filter holds back up to this much output. */
    public static final int MAX_STOP_STRING_CHARS = 256;
    /** Most stop token ids per request: each is compared with every generated token. */
    public static final int MAX_STOP_TOKEN_IDS = 64;
    /**
     * Temperatures below this sample greedily: dividing logits by a smaller one overflows float
     * (and such a distribution is the argmax anyway, up to rounding).
     */
    public static final float MIN_SAMPLING_TEMPERATURE = 1e-5f;

    public SamplingOptions {
        if (stop != null && stop.size() > MAX_STOP_STRINGS) {
            throw new InvalidRequestException("stop", "at most " + MAX_STOP_STRINGS + " stop strings, got "
                    + stop.size());
        }
        if (stopTokenIds != null && stopTokenIds.length > MAX_STOP_TOKEN_IDS) {
            throw new InvalidRequestException("stop_token_ids", "at most " + MAX_STOP_TOKEN_IDS + " ids, got "
                    + stopTokenIds.length);
        }
        stop = stop == null ? List.of() : List.copyOf(stop);
        stopTokenIds = stopTokenIds == null ? new int[0] : stopTokenIds.clone();
        if (maxTokens < 0) {
            throw new InvalidRequestException("max_tokens", "must be >= 1, got " + maxTokens);
        }
        if (!(temperature >= 0f) || Float.isInfinite(temperature)) {
            throw new InvalidRequestException("temperature", "must be a finite number >= 0, got " + temperature);
        }
        if (!(topP > 0f && topP <= 1f)) {
            throw new InvalidRequestException("top_p", "must be in (0, 1], got " + topP);
        }
        if (topK < 0) {
            throw new InvalidRequestException("top_k", "must be >= 0, got " + topK);
        }
        if (!(minP >= 0f && minP <= 1f)) {
            throw new InvalidRequestException("min_p", "must be in [0, 1], got " + minP);
        }
        if (!(repetitionPenalty > 0f) || Float.isInfinite(repetitionPenalty)) {
            throw new InvalidRequestException("repetition_penalty", "must be a finite number > 0, got " + repetitionPenalty);
        }
        if (!(presencePenalty >= -2f && presencePenalty <= 2f)) {
            throw new InvalidRequestException("presence_penalty", "must be in [-2, 2], got " + presencePenalty);
        }
        if (!(frequencyPenalty >= -2f && frequencyPenalty <= 2f)) {
            throw new InvalidRequestException("frequency_penalty", "must be in [-2, 2], got " + frequencyPenalty);
        }
        if (logprobs < 0 || logprobs > MAX_LOGPROBS) {
            throw new InvalidRequestException("logprobs", "must be in [0, " + MAX_LOGPROBS + "], got " + logprobs);
        }
        for (String s : stop) {
            if (s == null || s.isEmpty()) {
                throw new InvalidRequestException("stop", "stop strings must be non-empty");
            }
            if (s.length() > MAX_STOP_STRING_CHARS) {
                throw new InvalidRequestException("stop", "stop strings must be at most " + MAX_STOP_STRING_CHARS
                        + " characters, got one of " + s.length());
            }
        }
    }

    /** Greedy decoding of up to {@code maxTokens} tokens. */
    public static SamplingOptions greedy(int maxTokens) {
        return builder().maxTokens(maxTokens).temperature(0f).build();
    }

    /** These options with {@code seed} fixed (a gateway fixes it at admission, so a continuation elsewhere draws alike). */
    public SamplingOptions withSeed(long seed) {
        return new SamplingOptions(maxTokens, temperature, topP, topK, minP, seed, stop, stopTokenIds, ignoreEos,
                repetitionPenalty, presencePenalty, frequencyPenalty, logprobs);
    }

    /**
     * Whether {@code other} asks for the same generation, the seed aside when {@code other} has
     * none: a retry of a request whose seed the gateway fixed sends no seed.
     */
    public boolean sameRequestAs(SamplingOptions other) {
        return maxTokens == other.maxTokens && Float.compare(temperature, other.temperature) == 0
                && Float.compare(topP, other.topP) == 0 && topK == other.topK && Float.compare(minP, other.minP) == 0
                && (other.seed == null || other.seed.equals(seed)) && stop.equals(other.stop)
                && java.util.Arrays.equals(stopTokenIds, other.stopTokenIds) && ignoreEos == other.ignoreEos
                && Float.compare(repetitionPenalty, other.repetitionPenalty) == 0
                && Float.compare(presencePenalty, other.presencePenalty) == 0
                && Float.compare(frequencyPenalty, other.frequencyPenalty) == 0 && logprobs == other.logprobs;
    }

    /** Whether tokens are picked by argmax: temperature 0, or below {@link #MIN_SAMPLING_TEMPERATURE}. */
    public boolean isGreedy() {
        return temperature < MIN_SAMPLING_TEMPERATURE;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Defaults: unlimited tokens, temperature 1, top_p 1, no top-k/min-p, no penalties. */
    public static final class Builder {
        private int maxTokens;
        private float temperature = 1f;
        private float topP = 1f;
        private int topK;
        private float minP;
        private Long seed;
        private List<String> stop = List.of();
        private int[] stopTokenIds = new int[0];
        private boolean ignoreEos;
        private float repetitionPenalty = 1f;
        private float presencePenalty;
        private float frequencyPenalty;
        private int logprobs;

        public Builder maxTokens(int v) { maxTokens = v; return this; }
        public Builder temperature(float v) { temperature = v; return this; }
        public Builder topP(float v) { topP = v; return this; }
        public Builder topK(int v) { topK = v; return this; }
        public Builder minP(float v) { minP = v; return this; }
        public Builder seed(Long v) { seed = v; return this; }
        public Builder stop(List<String> v) { stop = v; return this; }
        public Builder stopTokenIds(int... v) { stopTokenIds = v; return this; }
        public Builder ignoreEos(boolean v) { ignoreEos = v; return this; }
        public Builder repetitionPenalty(float v) { repetitionPenalty = v; return this; }
        public Builder presencePenalty(float v) { presencePenalty = v; return this; }
        public Builder frequencyPenalty(float v) { frequencyPenalty = v; return this; }
        public Builder logprobs(int v) { logprobs = v; return this; }

        public SamplingOptions build() {
            return new SamplingOptions(maxTokens, temperature, topP, topK, minP, seed, stop, stopTokenIds,
                    ignoreEos, repetitionPenalty, presencePenalty, frequencyPenalty, logprobs);
        }
    }
}
