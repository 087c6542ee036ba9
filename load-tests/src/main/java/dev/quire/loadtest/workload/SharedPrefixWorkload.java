package dev.quire.loadtest.workload;

import java.util.Random;

/**
 * N groups of requests; the requests of a group share one long prompt prefix and differ in a random suffix.
 * Measures what prefix caching buys: a server that reuses the prefix's KV cache answers the second request of
 * a group much faster.
 */
public final class SharedPrefixWorkload implements Workload {
    private final PromptSynthesizer synth;
    private final Prompt[] prefixes;
    private final int prefixLen;
    private final int suffixLen;
    private final int outputLen;
    private final double rangeRatio;
    private final Random random;

    /**
     * @param groups     number of distinct prefixes; each request picks one uniformly at random
     * @param prefixLen  tokens in each shared prefix
     * @param suffixLen  mean tokens in each request's own suffix
     * @param outputLen  mean output length
     * @param rangeRatio suffix and output lengths vary by this fraction
     * @param seed       same seed, same requests
     */
    public SharedPrefixWorkload(PromptSynthesizer synth, int groups, int prefixLen, int suffixLen, int outputLen,
                                double rangeRatio, long seed) {
        if (groups < 1 || prefixLen < 1 || suffixLen < 1 || outputLen < 1) {
            throw new IllegalArgumentException("groups, prefix, suffix and output lengths must be >= 1");
        }
        this.synth = synth;
        this.prefixLen = prefixLen;
        this.suffixLen = suffixLen;
        this.outputLen = outputLen;
        this.rangeRatio = rangeRatio;
        this.random = new Random(seed);
        this.prefixes = new Prompt[groups];
        for (int g = 0; g < groups; g++) {
            prefixes[g] = synth.prompt(random, prefixLen);
        }
    }

    @Override
    public RequestSpec next() {
        Prompt prefix = prefixes[random.nextInt(prefixes.length)];
        int suffix = PromptSynthesizer.length(random, suffixLen, rangeRatio);
        int out = PromptSynthesizer.length(random, outputLen, rangeRatio);
        return new RequestSpec(PromptSynthesizer.concat(prefix, synth.prompt(random, suffix)), prefixLen + suffix, out);
    }
}
