package dev.quire.loadtest.workload;

import java.util.Random;

/**
 * Makes random prompts of a given length, as token ids or as text.
 *
 * <p>Token ids are drawn uniformly from the middle 98% of the vocabulary: Llama-family models keep their
 * special tokens at the very start (BOS/EOS at 1/2) or the very end (Llama 3's 128000+), and a random prompt
 * should not be full of them.
 *
 * <p>Text prompts are random common English words. A word is about one token for most tokenizers, so the
 * length is approximate; the server's usage reports the real prompt length.
 */
public final class PromptSynthesizer {
    private static final String[] WORDS = ("the of and to in is was he for it with as his on be at by had are "
            + "but from or have an they which one you were her all she there would their we him been has when "
            + "who will more no if out so said what up its about into than them can only other new some could "
            + "time these two may then do first any my now such like our over man me even most made after also "
            + "did many before must through back years where much your way well down should because each just "
            + "those people how too little state good very make world still own see men work long get here "
            + "between both life being under never day same another know while last might us great old year off "
            + "come since against go came right used take three small house story tree water dog cat bird happy "
            + "sun park play friend mom dad ball big red blue green garden flower boat sky cake toy fish").split(" ");

    private final PromptFormat format;
    private final int vocabSize;
    private final int lowId;
    private final int highId;

    /**
     * @param format    ids or text
     * @param vocabSize the model's vocabulary size; needed (> 0) for {@link PromptFormat#IDS}
     */
    public PromptSynthesizer(PromptFormat format, int vocabSize) {
        if (format == PromptFormat.IDS && vocabSize < 2) {
            throw new IllegalArgumentException("token-id prompts need the vocabulary size (got " + vocabSize + ")");
        }
        this.format = format;
        this.vocabSize = vocabSize;
        this.lowId = (int) Math.ceil(vocabSize * 0.01);
        this.highId = Math.max(lowId + 1, (int) Math.floor(vocabSize * 0.99));
    }

    public PromptFormat format() {
        return format;
    }

    public int vocabSize() {
        return vocabSize;
    }

    /** Random token ids, each in [1% of vocab, 99% of vocab). */
    public int[] tokenIds(Random random, int length) {
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) {
            ids[i] = lowId + random.nextInt(highId - lowId);
        }
        return ids;
    }

    /** Random words, {@code length} of them, separated by spaces. */
    public String words(Random random, int length) {
        StringBuilder sb = new StringBuilder(length * 6);
        for (int i = 0; i < length; i++) {
            if (i > 0) {
                sb.append(' ');
            }
            sb.append(WORDS[random.nextInt(WORDS.length)]);
        }
        return sb.toString();
    }

    /** A random prompt of about {@code length} tokens in this synthesizer's format. */
    public Prompt prompt(Random random, int length) {
        return format == PromptFormat.IDS ? Prompt.ofTokens(tokenIds(random, length)) : Prompt.ofText(words(random, length));
    }

    /** Joins a shared prefix and a suffix into one prompt of the same format. */
    public static Prompt concat(Prompt prefix, Prompt suffix) {
        if (prefix.isTokens() != suffix.isTokens()) {
            throw new IllegalArgumentException("prefix and suffix must have the same format");
        }
        if (!prefix.isTokens()) {
            return Prompt.ofText(prefix.text() + " " + suffix.text());
        }
        int[] a = prefix.tokenIds();
        int[] b = suffix.tokenIds();
        int[] all = new int[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return Prompt.ofTokens(all);
    }

    /**
     * A length drawn uniformly from [{@code mean * (1 - ratio)}, {@code mean * (1 + ratio)}], at least 1.
     * {@code ratio} 0 always gives {@code mean} (as vLLM's {@code --random-range-ratio}).
     */
    public static int length(Random random, int mean, double ratio) {
        if (ratio <= 0) {
            return Math.max(1, mean);
        }
        int lo = Math.max(1, (int) Math.floor(mean * (1 - ratio)));
        int hi = Math.max(lo, (int) Math.ceil(mean * (1 + ratio)));
        return lo + random.nextInt(hi - lo + 1);
    }
}
