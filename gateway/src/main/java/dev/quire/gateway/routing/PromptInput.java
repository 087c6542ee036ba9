package dev.quire.gateway.routing;

/** A prompt as a client sent it: text to tokenize, or token ids to use as they are. */
public record PromptInput(String text, int[] tokenIds) {
    public static PromptInput text(String text) {
        return new PromptInput(text, null);
    }

    public static PromptInput tokens(int[] ids) {
        return new PromptInput(null, ids);
    }

    public boolean isText() {
        return text != null;
    }
}
