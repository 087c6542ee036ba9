package dev.quire.worker.engine;

import dev.quire.scheduler.engine.TokenLogprobs;

import dev.quire.scheduler.engine.SamplingOptions;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class TokenSamplerTest {
    private final TokenSampler sampler = new TokenSampler();
    private static final int[] NO_PROMPT = new int[0];

    private static float[] logits(double... probs) {
        float[] out = new float[probs.length];
        for (int i = 0; i < probs.length; i++) {
            out[i] = (float) Math.log(probs[i]);
        }
        return out;
    }

    private int[] histogram(float[] logits, SamplingOptions options, int draws) {
        int[] counts = new int[logits.length];
        for (int i = 0; i < draws; i++) {
            counts[sampler.sample(logits, 0, logits.length, options, 42L, i, TokenHistory.of(NO_PROMPT, options))
                    .tokenId()]++;
        }
        return counts;
    }

    @Test
    void greedyPicksTheArgmaxOfTheRowAtItsOffset() {
        float[] rows = {5f, 1f, 0f, /* row 2 */ 0f, 1f, 9f};
        SamplingOptions greedy = SamplingOptions.greedy(1);
        assertThat(sampler.sample(rows, 0, 3, greedy, 1, 0, TokenHistory.of(NO_PROMPT, greedy)).tokenId()).isZero();
        assertThat(sampler.sample(rows, 3, 3, greedy, 1, 0, TokenHistory.of(NO_PROMPT, greedy)).tokenId()).isEqualTo(2);
    }

    @Test
    void temperatureOneDrawsFromTheModelDistribution() {
        float[] logits = logits(0.5, 0.3, 0.2);
        int[] counts = histogram(logits, SamplingOptions.builder().temperature(1f).build(), 20_000);
        assertThat(counts[0] / 20_000.0).isCloseTo(0.5, within(0.02));
        assertThat(counts[1] / 20_000.0).isCloseTo(0.3, within(0.02));
        assertThat(counts[2] / 20_000.0).isCloseTo(0.2, within(0.02));
    }

    @Test
    void topKAndTopPAndMinPDropUnlikelyTokens() {
        float[] logits = logits(0.5, 0.3, 0.15, 0.05);
        assertThat(histogram(logits, SamplingOptions.builder().topK(2).build(), 5000)).satisfies(c -> {
            assertThat(c[2]).isZero();
            assertThat(c[3]).isZero();
        });
        // 0.5 + 0.3 passes 0.75: the nucleus is the first two tokens.
        assertThat(histogram(logits, SamplingOptions.builder().topP(0.75f).build(), 5000)).satisfies(c -> {
            assertThat(c[0] + c[1]).isEqualTo(5000);
        });
        // min_p 0.2 of the top probability 0.5 drops everything under 0.1.
        assertThat(histogram(logits, SamplingOptions.builder().minP(0.2f).build(), 5000)[3]).isZero();
    }

    @Test
    void sameSeedAndIndexGiveTheSameDrawWhateverHappenedBefore() {
        float[] logits = new float[100];
        Random r = new Random(3);
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) r.nextGaussian();
        }
        SamplingOptions options = SamplingOptions.builder().temperature(0.8f).seed(5L).build();
        int a = sampler.sample(logits, 0, 100, options, 5L, 17, TokenHistory.of(NO_PROMPT, options)).tokenId();
        for (int i = 0; i < 50; i++) {
            sampler.sample(logits, 0, 100, options, i, i, TokenHistory.of(NO_PROMPT, options));
        }
        int b = new TokenSampler().sample(logits, 0, 100, options, 5L, 17, TokenHistory.of(NO_PROMPT, options))
                .tokenId();
        assertThat(a).isEqualTo(b);
    }

    @Test
    void penaltiesPushDownTokensAlreadySeen() {
        float[] logits = {2f, 1.9f, 0f};
        SamplingOptions options = SamplingOptions.builder().temperature(0f).presencePenalty(0.5f).build();
        TokenHistory history = TokenHistory.of(NO_PROMPT, options);
        assertThat(sampler.sample(logits, 0, 3, options, 0, 0, history).tokenId()).isZero();
        history.add(0);
        assertThat(sampler.sample(logits, 0, 3, options, 0, 1, history).tokenId()).isEqualTo(1);

        SamplingOptions repetition = SamplingOptions.builder().temperature(0f).repetitionPenalty(1.2f).build();
        assertThat(sampler.sample(logits, 0, 3, repetition, 0, 0, TokenHistory.of(new int[]{0}, repetition))
                .tokenId()).isEqualTo(1);
    }

    @Test
    void logprobsAreNormalisedAndSortedMostLikelyFirst() {
        float[] logits = logits(0.1, 0.6, 0.3);
        SamplingOptions options = SamplingOptions.builder().temperature(0f).logprobs(2).build();
        TokenLogprobs lp = sampler.sample(logits, 0, 3, options, 0, 0, TokenHistory.of(NO_PROMPT, options)).logprobs();
        assertThat(lp.tokenId()).isEqualTo(1);
        assertThat((double) lp.logprob()).isCloseTo(Math.log(0.6), within(1e-5));
        assertThat(lp.topTokenIds()).containsExactly(1, 2);
        assertThat((double) lp.topLogprobs()[1]).isCloseTo(Math.log(0.3), within(1e-5));
    }

    private int sampleOnce(float[] logits, SamplingOptions options, int tokenIndex) {
        return sampler.sample(logits, 0, logits.length, options, 42L, tokenIndex, TokenHistory.of(NO_PROMPT, options))
                .tokenId();
    }

    @Test
    void aSubnormalTemperatureWithEveryLogitNegativeIsGreedy() {
        float[] logits = {-3f, -1.5f, -2f, -7f};
        SamplingOptions options = SamplingOptions.builder().temperature(Float.MIN_VALUE).build();
        for (int i = 0; i < 100; i++) {
            assertThat(sampleOnce(logits, options, i)).isEqualTo(1);
        }
        SamplingOptions tiny = SamplingOptions.builder().temperature(1e-7f).build();
        assertThat(sampleOnce(logits, tiny, 0)).isEqualTo(1);
    }

    @Test
    void aTemperatureThatOverflowsTheScaledLogitsStillPicksTheBestToken() {
        // 1e35 / 2e-5 overflows float: every scaled logit is +inf, yet the best token must win.
        float[] huge = {1e35f, 3e35f, 2e35f};
        SamplingOptions options = SamplingOptions.builder().temperature(2e-5f).build();
        for (int i = 0; i < 100; i++) {
            assertThat(sampleOnce(huge, options, i)).isEqualTo(1);
        }
        // Every scaled logit -inf: still a token of the vocabulary, the best one.
        float[] tiny = {-2e35f, -1e35f, -3e35f};
        for (int i = 0; i < 100; i++) {
            assertThat(sampleOnce(tiny, options, i)).isEqualTo(1);
        }
    }

    @Test
    void drawNeverReturnsMinusOneEvenWhenPenaltiesPushEveryTokenToMinusInfinity() {
        float[] logits = {-5f, -6f, -7f};
        SamplingOptions options = SamplingOptions.builder().temperature(1f).repetitionPenalty(3e38f).build();
        TokenHistory history = TokenHistory.of(new int[]{0, 1, 2}, options);
        int token = sampler.sample(logits, 0, 3, options, 1L, 0, history).tokenId();
        assertThat(token).isBetween(0, 2);
    }

    @Test
    void nanOrInfiniteLogitsFailTheSample() {
        SamplingOptions sampled = SamplingOptions.builder().temperature(0.8f).build();
        SamplingOptions greedy = SamplingOptions.greedy(1);
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            float[] logits = {0.5f, bad, 0.1f};
            for (SamplingOptions options : new SamplingOptions[]{sampled, greedy}) {
                assertThatThrownBy(() -> sampleOnce(logits, options, 0))
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("token 1");
            }
        }
        // Only this row is checked: a bad value in another sequence's row does not matter.
        float[] rows = {0.5f, 2f, 0.1f, /* next row */ Float.NaN, 0f, 0f};
        assertThat(sampler.sample(rows, 0, 3, greedy, 1L, 0, TokenHistory.of(NO_PROMPT, greedy)).tokenId())
                .isEqualTo(1);
    }

    @Test
    void kthLargestMatchesASortIncludingTiesAndInfinities() {
        Random r = new Random(17);
        float[] scratch = new float[0];
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + r.nextInt(trial < 100 ? 20 : 3000);
            float[] x = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = switch (trial % 4) {
                    case 0 -> (float) r.nextGaussian();
                    case 1 -> r.nextInt(4); // many ties
                    case 2 -> r.nextInt(5) == 0 ? Float.NEGATIVE_INFINITY : (float) r.nextGaussian();
                    default -> i; // sorted input
                };
            }
            float[] sorted = x.clone();
            Arrays.sort(sorted);
            float[] before = x.clone();
            int k = 1 + r.nextInt(n);
            if (scratch.length < n) {
                scratch = new float[n];
            }
            assertThat(TokenSampler.kthLargest(x, n, k, scratch)).as("trial %d, n %d, k %d", trial, n, k)
                    .isEqualTo(sorted[n - k]);
            assertThat(x).as("the row itself is left alone").containsExactly(before);
        }
    }

    // ---- statistics: the draws follow the filtered softmax ----

    /** Eight distinct logits, no two filter thresholds landing on a tie. */
    private static final float[] SPREAD = {2.0f, 1.5f, 1.1f, 0.5f, 0.0f, -0.6f, -1.2f, -2.0f};
    private static final int DRAWS = 60_000;
    /** Upper 0.1% points of the chi-square distribution, by degrees of freedom (index). */
    private static final double[] CHI_SQUARE_999 =
            {Double.NaN, 10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877};

    /**
     * What the sampler is meant to draw from: softmax of {@code logits / temperature}, keeping only tokens whose
     * probability is at least {@code minP} times the top one, only the {@code topK} largest, and of those the smallest
     * most-likely set whose mass reaches {@code topP} of theirs; renormalised. Zero for every token filtered out.
     */
    private static double[] filteredSoftmax(float[] logits, float temperature, int topK, float topP, float minP) {
        int n = logits.length;
        double[] p = new double[n];
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v / (double) temperature);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            p[i] = Math.exp(logits[i] / (double) temperature - max);
            sum += p[i];
        }
        for (int i = 0; i < n; i++) {
            p[i] /= sum;
        }
        Integer[] byProbability = new Integer[n];
        for (int i = 0; i < n; i++) {
            byProbability[i] = i;
        }
        Arrays.sort(byProbability, (a, b) -> Double.compare(p[b], p[a]));
        boolean[] keep = new boolean[n];
        double top = p[byProbability[0]];
        for (int r = 0; r < n; r++) {
            int i = byProbability[r];
            keep[i] = p[i] >= minP * top && (topK <= 0 || r < topK);
        }
        if (topP < 1f) {
            double kept = 0;
            for (int i = 0; i < n; i++) {
                kept += keep[i] ? p[i] : 0;
            }
            double mass = 0;
            for (int r = 0; r < n; r++) {
                int i = byProbability[r];
                if (!keep[i]) {
                    continue;
                }
                if (mass >= topP * kept) {
                    keep[i] = false;
                }
                mass += p[i];
            }
        }
        double total = 0;
        for (int i = 0; i < n; i++) {
            total += keep[i] ? p[i] : 0;
        }
        double[] q = new double[n];
        for (int i = 0; i < n; i++) {
            q[i] = keep[i] ? p[i] / total : 0;
        }
        return q;
    }

    /**
     * Draws {@link #DRAWS} tokens (a fixed seed, one token index per draw) with a history built afresh for each draw,
     * then checks: no draw of a token the expected distribution excludes, and Pearson's chi-square statistic over the
     * kept tokens under the 0.1% critical value.
     */
    private void assertDrawsFollow(float[] logits, SamplingOptions options, int[] prompt, int[] output,
                                   double[] expected) {
        int[] counts = new int[logits.length];
        for (int i = 0; i < DRAWS; i++) {
            TokenHistory history = TokenHistory.of(prompt, options);
            for (int t : output) {
                history.add(t);
            }
            counts[sampler.sample(logits, 0, logits.length, options, 1234L, i, history).tokenId()]++;
        }
        double chiSquare = 0;
        int categories = 0;
        for (int t = 0; t < logits.length; t++) {
            if (expected[t] == 0) {
                assertThat(counts[t]).as("draws of filtered-out token %d in %s", t, Arrays.toString(counts)).isZero();
                continue;
            }
            double e = expected[t] * DRAWS;
            assertThat(e).as("expected count of token %d (chi-square needs at least 5)", t).isGreaterThanOrEqualTo(5);
            chiSquare += (counts[t] - e) * (counts[t] - e) / e;
            categories++;
        }
        assertThat(categories).as("tokens kept").isGreaterThanOrEqualTo(2);
        assertThat(chiSquare).as("chi-square of %s against %s", Arrays.toString(counts), Arrays.toString(expected))
                .isLessThan(CHI_SQUARE_999[categories - 1]);
    }

    private void assertDrawsFollow(float[] logits, SamplingOptions options, double[] expected) {
        assertDrawsFollow(logits, options, NO_PROMPT, NO_PROMPT, expected);
    }

    @Test
    void lowAndHighTemperaturesDrawFromTheSharpenedAndFlattenedSoftmax() {
        for (float t : new float[]{0.5f, 2.0f}) {
            double[] expected = filteredSoftmax(SPREAD, t, 0, 1f, 0f);
            assertDrawsFollow(SPREAD, SamplingOptions.builder().temperature(t).build(), expected);
        }
        // The reference is not the unscaled softmax: at 0.5 the top token is far likelier than at 1.
        assertThat(filteredSoftmax(SPREAD, 0.5f, 0, 1f, 0f)[0]).isGreaterThan(filteredSoftmax(SPREAD, 1f, 0, 1f, 0f)[0] + 0.2);
    }

    @Test
    void topKDrawsFromTheKLargestRenormalised() {
        for (int k : new int[]{1, 3, 5}) {
            SamplingOptions options = SamplingOptions.builder().temperature(1.0f).topK(k).build();
            double[] expected = filteredSoftmax(SPREAD, 1.0f, k, 1f, 0f);
            if (k == 1) {
                int[] counts = new int[SPREAD.length];
                for (int i = 0; i < 1000; i++) {
                    counts[sampler.sample(SPREAD, 0, SPREAD.length, options, 9L, i,
                            TokenHistory.of(NO_PROMPT, options)).tokenId()]++;
                }
                assertThat(counts[0]).isEqualTo(1000);
                continue;
            }
            assertDrawsFollow(SPREAD, options, expected);
        }
    }

    @Test
    void topPDrawsFromTheNucleusRenormalised() {
        // At temperature 1 the probabilities are about .39 .24 .16 .09 .05 .03 .015 .007.
        for (float topP : new float[]{0.5f, 0.8f, 0.95f}) {
            double[] expected = filteredSoftmax(SPREAD, 1.0f, 0, topP, 0f);
            assertDrawsFollow(SPREAD, SamplingOptions.builder().temperature(1.0f).topP(topP).build(), expected);
        }
        // The nucleus is applied after temperature: at 2.0 the flatter distribution keeps more tokens for 0.8.
        double[] hot = filteredSoftmax(SPREAD, 2.0f, 0, 0.8f, 0f);
        assertThat(Arrays.stream(hot).filter(q -> q > 0).count())
                .isGreaterThan(Arrays.stream(filteredSoftmax(SPREAD, 1.0f, 0, 0.8f, 0f)).filter(q -> q > 0).count());
        assertDrawsFollow(SPREAD, SamplingOptions.builder().temperature(2.0f).topP(0.8f).build(), hot);
    }

    @Test
    void minPDrawsFromTheTokensWithinTheFactorOfTheTopOne() {
        for (float minP : new float[]{0.05f, 0.2f, 0.5f}) {
            double[] expected = filteredSoftmax(SPREAD, 1.0f, 0, 1f, minP);
            assertDrawsFollow(SPREAD, SamplingOptions.builder().temperature(1.0f).minP(minP).build(), expected);
        }
        double[] hot = filteredSoftmax(SPREAD, 2.0f, 0, 1f, 0.2f);
        assertDrawsFollow(SPREAD, SamplingOptions.builder().temperature(2.0f).minP(0.2f).build(), hot);
    }

    @Test
    void allFiltersTogetherDrawFromTheirIntersection() {
        double[] expected = filteredSoftmax(SPREAD, 0.7f, 6, 0.9f, 0.05f);
        assertDrawsFollow(SPREAD, SamplingOptions.builder().temperature(0.7f).topK(6).topP(0.9f).minP(0.05f).build(),
                expected);
    }

    @Test
    void presenceAndFrequencyPenaltiesShiftTheDistributionByTheirAmountPerOutputToken() {
        // Token 0 was generated twice, token 2 once; token 3 is only in the prompt, which these penalties ignore.
        SamplingOptions options = SamplingOptions.builder().temperature(1.0f).presencePenalty(0.4f)
                .frequencyPenalty(0.3f).build();
        float[] penalised = SPREAD.clone();
        penalised[0] -= 0.4f + 2 * 0.3f;
        penalised[2] -= 0.4f + 0.3f;
        assertDrawsFollow(SPREAD, options, new int[]{3}, new int[]{0, 2, 0}, filteredSoftmax(penalised, 1f, 0, 1f, 0f));
    }

    @Test
    void repetitionPenaltyDividesPositiveLogitsAndMultipliesNegativeOnesOverPromptAndOutput() {
        SamplingOptions options = SamplingOptions.builder().temperature(1.0f).repetitionPenalty(1.5f).build();
        // Token 1 (1.5) in the prompt, token 6 (-1.2) in the output, token 4 (0.0) in both.
        TokenHistory history = TokenHistory.of(new int[]{1, 4}, options);
        history.add(6);
        history.add(4);
        float[] x = SPREAD.clone();
        history.applyPenalties(x, options);
        float[] penalised = SPREAD.clone();
        penalised[1] = 1.5f / 1.5f;
        penalised[6] = -1.2f * 1.5f;
        assertThat(x).containsExactly(penalised);
        // Both directions make the token less likely than without the penalty.
        double[] plain = filteredSoftmax(SPREAD, 1f, 0, 1f, 0f);
        double[] expected = filteredSoftmax(penalised, 1f, 0, 1f, 0f);
        assertThat(expected[1]).isLessThan(plain[1]);
        assertThat(expected[6]).isLessThan(plain[6]);
        assertDrawsFollow(SPREAD, options, new int[]{1, 4}, new int[]{6, 4}, expected);
    }

    @Test
    void theStatisticRejectsAWrongTemperature() {
        // The check has teeth: draws at temperature 0.8 are not taken for draws at 1.
        int[] counts = new int[SPREAD.length];
        SamplingOptions options = SamplingOptions.builder().temperature(0.8f).build();
        for (int i = 0; i < DRAWS; i++) {
            counts[sampler.sample(SPREAD, 0, SPREAD.length, options, 1234L, i, TokenHistory.of(NO_PROMPT, options))
                    .tokenId()]++;
        }
        double[] wrong = filteredSoftmax(SPREAD, 1f, 0, 1f, 0f);
        double chiSquare = 0;
        for (int t = 0; t < SPREAD.length; t++) {
            double e = wrong[t] * DRAWS;
            chiSquare += (counts[t] - e) * (counts[t] - e) / e;
        }
        assertThat(chiSquare).isGreaterThan(CHI_SQUARE_999[SPREAD.length - 1]);
    }
}
