package dev.quire.loadtest.workload;

import java.util.Arrays;
import java.util.Objects;

/**
 * A prompt, either as text (the server tokenizes it) or as token ids sent exactly as given. Token ids keep
 * tokenizer differences out of comparisons between servers.
 *
 * @param text     the prompt text, or null when the prompt is token ids
 * @param tokenIds the prompt token ids, or null when the prompt is text
 */
public record Prompt(String text, int[] tokenIds) {
    public Prompt {
        if ((text == null) == (tokenIds == null)) {
            throw new IllegalArgumentException("a prompt is either text or token ids");
        }
    }

    /** A text prompt. */
    public static Prompt ofText(String text) {
        return new Prompt(Objects.requireNonNull(text), null);
    }

    /** A token-id prompt. */
    public static Prompt ofTokens(int[] ids) {
        return new Prompt(null, ids.clone());
    }

    /** Whether this prompt is token ids. */
    public boolean isTokens() {
        return tokenIds != null;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Prompt p && Objects.equals(text, p.text) && Arrays.equals(tokenIds, p.tokenIds);
    }

    @Override
    public int hashCode() {
        return 31 * Objects.hashCode(text) + Arrays.hashCode(tokenIds);
    }

    @Override
    public String toString() {
        return isTokens() ? "Prompt[" + tokenIds.length + " token ids]" : "Prompt[" + text.length() + " chars]";
    }
}
