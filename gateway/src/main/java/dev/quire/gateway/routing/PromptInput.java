package dev.quire.gateway.routing;

/**
 * A prompt as a client sent it: text to tokenize, or token ids to use as they are.
 *
 * @param addSpecialTokens whether tokenizing the text adds the model's special tokens (BOS); false
 *                         for text that already holds them, such as a rendered chat template
 */
public record PromptInput(String text, int[] tokenIds, boolean addSpecialTokens) {
    public static PromptInput text(String text) {
        return new PromptInput(text, null, true);
    }

    /** Text tokenized as it is: a chat template already wrote the special tokens it wants. */
    public static PromptInput textWithSpecialTokens(String text) {
        return new PromptInput(text, null, false);
    }

    public static PromptInput tokens(int[] ids) {
        return new PromptInput(null, ids, false);
    }

    public boolean isText() {
        return text != null;
    }
}
