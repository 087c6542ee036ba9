package dev.quire.worker.engine;

import dev.quire.scheduler.engine.TokenLogprobs;

import dev.quire.scheduler.engine.SamplingOptions;

import java.util.Arrays;

/**
 * Picks the next token of one sequence from its logits row, on the host.
 *
 * <p>The random draw depends only on the request's seed and the index of the token being
 * generated, so a seeded request gives the same output whatever else shares its batch, and a
 * sequence that is recomputed (preemption, failover) continues with the same draws.
 *
 * <p>One instance per engine thread: it reuses its scratch buffers and is not thread-safe.
 */
final class TokenSampler {
    private float[] scratch = new float[0];
    private float[] selection = new float[0];
    private int[] order = new int[0];

    /** The chosen token and, when asked for, log-probabilities. */
    record Sample(int tokenId, TokenLogprobs logprobs) {
    }

    /**
     * @param logits     row-major logits of many rows
     * @param offset     start of this sequence's row
     * @param vocab      row length
     * @param options    the request's sampling options
     * @param seed       the request's seed
     * @param tokenIndex index of the token being generated (0 for the first)
     * @param history    the sequence's token counts, for penalties
     * @throws IllegalStateException if the row holds a NaN or infinite logit (the model's output is
     *                               broken for this sequence), or if no token in {@code [0, vocab)} came out
     */
    Sample sample(float[] logits, int offset, int vocab, SamplingOptions options, long seed, int tokenIndex,
                  TokenHistory history) {
        for (int i = 0; i < vocab; i++) {
            float v = logits[offset + i];
            if (Float.isNaN(v) || Float.isInfinite(v)) {
                throw new IllegalStateException("the model produced a non-finite logit (" + v + ") for token " + i);
            }
        }
        float[] x = buffer(vocab);
        System.arraycopy(logits, offset, x, 0, vocab);
        history.applyPenalties(x, options);
        TokenLogprobs logprobs = null;
        int token = options.isGreedy() ? argMax(x, vocab) : draw(x, vocab, options, seed, tokenIndex);
        if (token < 0 || token >= vocab) {
            throw new IllegalStateException("sampled token id " + token + " is outside the vocabulary [0, " + vocab
                    + ")");
        }
        if (options.logprobs() > 0) {
            // Log-probabilities of the model's distribution itself (after penalties, before
            // temperature and filtering), as the OpenAI API reports them.
            System.arraycopy(logits, offset, x, 0, vocab);
            history.applyPenalties(x, options);
            logprobs = logprobs(x, vocab, token, options.logprobs());
        }
        return new Sample(token, logprobs);
    }

    /**
     * Samples by the Gumbel-max trick: the token with the largest {@code logit / T + g} wins, where
     * {@code g} is Gumbel noise drawn from a hash of (seed, token index, token id). This draws
     * exactly from the filtered softmax, and unlike inverting a cumulative sum it is insensitive to
     * the last-bit differences between a decode and a recompute of the same position: the winner
     * only changes if two perturbed scores are that close.
     *
     * <p>When scaling by the temperature leaves no finite best score (a small temperature
     * overflowed it, or penalties pushed every token to -inf), the distribution is a point mass
     * on the best token, so it returns that token: never -1.
     */
    private int draw(float[] x, int vocab, SamplingOptions options, long seed, int tokenIndex) {
        float invTemperature = 1f / options.temperature();
        float max = Float.NEGATIVE_INFINITY;
        int bestUnscaled = 0;
        float bestUnscaledValue = x[0];
        for (int i = 0; i < vocab; i++) {
            if (x[i] > bestUnscaledValue) {
                bestUnscaledValue = x[i];
                bestUnscaled = i;
            }
            x[i] *= invTemperature;
            max = Math.max(max, x[i]);
        }
        if (Float.isInfinite(max)) {
            return bestUnscaled;
        }
        // Tokens this far below the best can never win against Gumbel noise (which stays under ~37).
        float floor = max - 40f;
        if (options.minP() > 0f) {
            floor = Math.max(floor, max + (float) Math.log(options.minP()));
        }
        if (options.topK() > 0 && options.topK() < vocab) {
            floor = Math.max(floor, kthLargest(x, vocab, options.topK(), selectionBuffer(vocab)));
        }
        if (options.topP() < 1f) {
            keepNucleus(x, vocab, max, floor, options.topP());
        }
        long stepSeed = mix(seed, tokenIndex);
        int best = -1;
        double bestScore = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            if (x[i] < floor) {
                continue;
            }
            double score = x[i] + gumbel(stepSeed, i);
            if (score > bestScore) {
                bestScore = score;
                best = i;
            }
        }
        return best >= 0 ? best : bestUnscaled;
    }

    /** Sets to -inf every token outside the smallest most-likely set whose mass reaches {@code topP}. */
    private void keepNucleus(float[] x, int vocab, float max, float floor, float topP) {
        int[] idx = indices(vocab);
        int n = 0;
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            if (x[i] >= floor) {
                idx[n++] = i;
                sum += Math.exp(x[i] - max);
            }
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = idx[i];
        }
        // Ties broken by id so that the kept set is reproducible.
        Arrays.sort(order, (a, b) -> x[a] != x[b] ? Float.compare(x[b], x[a]) : Integer.compare(a, b));
        double limit = topP * sum;
        double kept = 0;
        int keep = 0;
        while (keep < n && (keep == 0 || kept < limit)) {
            kept += Math.exp(x[order[keep]] - max);
            keep++;
        }
        for (int i = keep; i < n; i++) {
            x[order[i]] = Float.NEGATIVE_INFINITY;
        }
    }

    /** Standard Gumbel noise, a pure function of the step's seed and the token id. */
    private static double gumbel(long stepSeed, int tokenId) {
        long bits = mix(stepSeed, tokenId) >>> 11;
        double u = (bits + 0.5) * 0x1.0p-53; // in (0, 1)
        return -Math.log(-Math.log(u));
    }

    private TokenLogprobs logprobs(float[] x, int vocab, int chosen, int top) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, x[i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(x[i] - max);
        }
        float logZ = (float) (max + Math.log(sum));
        int[] best = new int[Math.min(top, vocab)];
        float[] bestLp = new float[best.length];
        Arrays.fill(bestLp, Float.NEGATIVE_INFINITY);
        Arrays.fill(best, -1);
        for (int i = 0; i < vocab; i++) {
            float lp = x[i] - logZ;
            int pos = best.length - 1;
            if (lp <= bestLp[pos] && best[pos] >= 0) {
                continue;
            }
            while (pos > 0 && (lp > bestLp[pos - 1] || best[pos - 1] < 0)) {
                bestLp[pos] = bestLp[pos - 1];
                best[pos] = best[pos - 1];
                pos--;
            }
            bestLp[pos] = lp;
            best[pos] = i;
        }
        return new TokenLogprobs(chosen, x[chosen] - logZ, best, bestLp);
    }

    static int argMax(float[] x, int vocab) {
        int best = 0;
        for (int i = 1; i < vocab; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * The {@code k}-th largest of {@code x[0..n)} (1 for the largest), found by selection in
     * expected linear time: quickselect with a three-way partition, so runs of equal values (ties,
     * -inf) cost no extra passes. {@code x} is not modified; {@code scratch} (length >= n) is
     * overwritten. The values must not be NaN.
     */
    static float kthLargest(float[] x, int n, int k, float[] scratch) {
        System.arraycopy(x, 0, scratch, 0, n);
        int target = n - k; // index in ascending order
        int lo = 0;
        int hi = n - 1;
        long state = 0x9E3779B97F4A7C15L ^ n;
        while (lo < hi) {
            // A pseudo-random pivot keeps sorted or adversarial rows from going quadratic.
            state = mix(state, hi - lo);
            float pivot = scratch[lo + (int) Long.remainderUnsigned(state, hi - lo + 1)];
            // Three-way partition: [lo, lt) < pivot, [lt, i) == pivot, (gt, hi] > pivot.
            int lt = lo;
            int gt = hi;
            int i = lo;
            while (i <= gt) {
                float v = scratch[i];
                if (v < pivot) {
                    scratch[i++] = scratch[lt];
                    scratch[lt++] = v;
                } else if (v > pivot) {
                    scratch[i] = scratch[gt];
                    scratch[gt--] = v;
                } else {
                    i++;
                }
            }
            if (target < lt) {
                hi = lt - 1;
            } else if (target > gt) {
                lo = gt + 1;
            } else {
                return pivot;
            }
        }
        return scratch[target];
    }

    private float[] selectionBuffer(int vocab) {
        if (selection.length < vocab) {
            selection = new float[vocab];
        }
        return selection;
    }

    private float[] buffer(int vocab) {
        if (scratch.length < vocab) {
            scratch = new float[vocab];
        }
        return scratch;
    }

    private int[] indices(int vocab) {
        if (order.length < vocab) {
            order = new int[vocab];
        }
        return order;
    }

    /** A well-spread 64-bit seed for the {@code tokenIndex}-th draw of a request. */
    static long mix(long seed, int tokenIndex) {
        long z = seed + 0x9E3779B97F4A7C15L * (tokenIndex + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
