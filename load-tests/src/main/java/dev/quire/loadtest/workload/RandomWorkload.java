package dev.quire.loadtest.workload;

import java.util.Random;

/** Synthetic requests with random prompts of a set length and a set output length. */
public final class RandomWorkload implements Workload {
    private final PromptSynthesizer synth;
    private final int inputLen;
    private final int outputLen;
    private final double rangeRatio;
    private final Random random;

    /**
     * @param synth      how prompts are made
     * @param inputLen   mean prompt length in tokens
     * @param outputLen  mean output length ({@code max_tokens})
     * @param rangeRatio lengths vary uniformly by this fraction around their mean, in [0, 1)
     * @param seed       same seed, same requests
     */
    public RandomWorkload(PromptSynthesizer synth, int inputLen, int outputLen, double rangeRatio, long seed) {
        if (inputLen < 1 || outputLen < 1) {
            throw new IllegalArgumentException("input and output lengths must be >= 1");
        }
        if (rangeRatio < 0 || rangeRatio >= 1) {
            throw new IllegalArgumentException("range ratio must be in [0, 1), got " + rangeRatio);
        }
        this.synth = synth;
        this.inputLen = inputLen;
        this.outputLen = outputLen;
        this.rangeRatio = rangeRatio;
        this.random = new Random(seed);
    }

    @Override
    public RequestSpec next() {
        int in = PromptSynthesizer.length(random, inputLen, rangeRatio);
        int out = PromptSynthesizer.length(random, outputLen, rangeRatio);
        return new RequestSpec(synth.prompt(random, in), in, out);
    }
}
