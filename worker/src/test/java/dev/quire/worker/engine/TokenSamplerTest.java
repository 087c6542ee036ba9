package dev.quire.worker.engine;

import dev.quire.scheduler.engine.TokenLogprobs;

import dev.quire.scheduler.engine.SamplingOptions;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
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
}
