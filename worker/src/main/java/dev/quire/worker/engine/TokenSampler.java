package dev.quire.worker.engine;

import java.util.Arrays;
import java.util.SplittableRandom;

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
     */
    Sample sample(float[] logits, int offset, int vocab, SamplingOptions options, long seed, int tokenIndex,
                  TokenHistory history) {
        float[] x = buffer(vocab);
        System.arraycopy(logits, offset, x, 0, vocab);
        history.applyPenalties(x, options);
        TokenLogprobs logprobs = null;
        int token = options.isGreedy() ? argMax(x, vocab) : draw(x, vocab, options, seed, tokenIndex);
        if (options.logprobs() > 0) {
            // Log-probabilities of the model's distribution itself (after penalties, before
            // temperature and filtering), as the OpenAI API reports them.
            System.arraycopy(logits, offset, x, 0, vocab);
            history.applyPenalties(x, options);
            logprobs = logprobs(x, vocab, token, options.logprobs());
        }
        return new Sample(token, logprobs);
    }

    private int draw(float[] x, int vocab, SamplingOptions options, long seed, int tokenIndex) {
        float invTemperature = 1f / options.temperature();
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            x[i] *= invTemperature;
            max = Math.max(max, x[i]);
        }
        if (options.topK() > 0 && options.topK() < vocab) {
            float threshold = kthLargest(x, vocab, options.topK());
            for (int i = 0; i < vocab; i++) {
                if (x[i] < threshold) {
                    x[i] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            float p = (float) Math.exp(x[i] - max);
            x[i] = p;
            sum += p;
        }
        if (options.minP() > 0f) {
            // The top token has unnormalised probability exp(0) = 1.
            float floor = options.minP();
            sum = 0;
            for (int i = 0; i < vocab; i++) {
                if (x[i] < floor) {
                    x[i] = 0f;
                }
                sum += x[i];
            }
        }
        double u = new SplittableRandom(mix(seed, tokenIndex)).nextDouble();
        if (options.topP() < 1f) {
            return drawNucleus(x, vocab, sum, options.topP(), u);
        }
        double target = u * sum;
        double acc = 0;
        int last = -1;
        for (int i = 0; i < vocab; i++) {
            if (x[i] > 0f) {
                acc += x[i];
                last = i;
                if (acc > target) {
                    return i;
                }
            }
        }
        return last;
    }

    /** Draws from the smallest set of most likely tokens whose mass reaches {@code topP}. */
    private int drawNucleus(float[] probs, int vocab, double sum, float topP, double u) {
        int n = 0;
        int[] idx = indices(vocab);
        for (int i = 0; i < vocab; i++) {
            if (probs[i] > 0f) {
                idx[n++] = i;
            }
        }
        Integer[] boxed = new Integer[n];
        for (int i = 0; i < n; i++) {
            boxed[i] = idx[i];
        }
        // Stable order (ties by id) keeps the draw reproducible.
        Arrays.sort(boxed, (a, b) -> probs[a] != probs[b] ? Float.compare(probs[b], probs[a]) : Integer.compare(a, b));
        double limit = topP * sum;
        double kept = 0;
        int keep = 0;
        while (keep < n && (keep == 0 || kept < limit)) {
            kept += probs[boxed[keep]];
            keep++;
        }
        double target = u * kept;
        double acc = 0;
        for (int i = 0; i < keep; i++) {
            acc += probs[boxed[i]];
            if (acc > target) {
                return boxed[i];
            }
        }
        return boxed[keep - 1];
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

    private float kthLargest(float[] x, int vocab, int k) {
        float[] copy = Arrays.copyOf(x, vocab);
        Arrays.sort(copy);
        return copy[vocab - k];
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
