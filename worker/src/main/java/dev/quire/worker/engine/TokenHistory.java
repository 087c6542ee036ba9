package dev.quire.worker.engine;

import dev.quire.scheduler.engine.SamplingOptions;

import java.util.HashMap;
import java.util.Map;

/**
 * Which tokens a sequence has seen, for the repetition, presence and frequency penalties. Only
 * requests that ask for a penalty pay for the bookkeeping.
 */
final class TokenHistory {
    private final Map<Integer, Integer> outputCounts;
    private final Map<Integer, Boolean> seen;

    private TokenHistory(boolean track) {
        outputCounts = track ? new HashMap<>() : null;
        seen = track ? new HashMap<>() : null;
    }

    static TokenHistory of(int[] prompt, SamplingOptions options) {
        boolean track = options.repetitionPenalty() != 1f || options.presencePenalty() != 0f
                || options.frequencyPenalty() != 0f;
        TokenHistory history = new TokenHistory(track);
        if (track) {
            for (int t : prompt) {
                history.seen.put(t, Boolean.TRUE);
            }
        }
        return history;
    }

    void add(int token) {
        if (outputCounts != null) {
            outputCounts.merge(token, 1, Integer::sum);
            seen.put(token, Boolean.TRUE);
        }
    }

    /**
     * Repetition penalty over prompt and output (divides positive logits, multiplies negative
     * ones); presence and frequency penalties over the output only, as OpenAI defines them.
     */
    void applyPenalties(float[] logits, SamplingOptions options) {
        if (outputCounts == null) {
            return;
        }
        float rep = options.repetitionPenalty();
        if (rep != 1f) {
            for (Integer t : seen.keySet()) {
                if (t >= 0 && t < logits.length) {
                    logits[t] = logits[t] > 0 ? logits[t] / rep : logits[t] * rep;
                }
            }
        }
        for (Map.Entry<Integer, Integer> e : outputCounts.entrySet()) {
            int t = e.getKey();
            if (t >= 0 && t < logits.length) {
                logits[t] -= options.presencePenalty() + options.frequencyPenalty() * e.getValue();
            }
        }
    }
}
