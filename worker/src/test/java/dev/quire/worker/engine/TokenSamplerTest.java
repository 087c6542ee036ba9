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
}
