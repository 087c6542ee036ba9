package dev.quire.worker.model;

import java.util.Arrays;

/**
 * Turns a growing sequence of generated token ids into text deltas for streaming. Concatenating
 * every {@link #append} result and the final {@link #flush} gives exactly the text that decoding
 * prompt and output together adds after the prompt's own text.
 *
 * <p>Technique (as serving engines do it): keep a prefix offset and a read offset into the token
 * list, decode the window from the prefix offset with and without the unread tokens, and emit the
 * difference. Decoding a window that starts a few tokens back, rather than the new tokens alone,
 * gets SentencePiece spaces right ({@code "▁upon"} decodes to {@code "upon"} at the start of a
 * text but to {@code " upon"} after {@code "▁Once"}). Nothing is emitted while the text ends in
 * U+FFFD (the bytes so far are an incomplete character), nor while the last visible token is a
 * byte-fallback token: a byte run decodes as a whole, so a later stray byte can turn characters
 * already complete into replacement characters.
 *
 * <p>Not thread-safe: one per sequence.
 */
public final class IncrementalDetokenizer {

    /** How many visible prompt tokens to decode as context (as vLLM does). */
    private static final int PROMPT_CONTEXT_TOKENS = 5;
    private static final char REPLACEMENT = '\uFFFD';

    private final TextTokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private int[] tokens;
    private int size;
    /** Start of the decoded window. */
    private int prefixOffset;
    /** Tokens before this have been emitted. */
    private int readOffset;
    private final StringBuilder text = new StringBuilder();

    IncrementalDetokenizer(TextTokenizer tokenizer, int[] promptTokenIds, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
        this.tokens = Arrays.copyOf(promptTokenIds, Math.max(32, promptTokenIds.length * 2));
        this.size = promptTokenIds.length;
        this.readOffset = size;
        // The window must hold some visible text: decoders strip the first space of what they decode,
        // which must be a space of the context, never of the output.
        int start = size;
        for (int visible = 0; start > 0 && visible < PROMPT_CONTEXT_TOKENS; ) {
            start--;
            if (!tokenizer.isInvisible(tokens[start], skipSpecialTokens)) {
                visible++;
            }
        }
        this.prefixOffset = start;
    }

    /**
     * Adds a generated token.
     *
     * @return the new text, possibly {@code ""} while the bytes so far don't form complete characters
     */
    public String append(int tokenId) {
        if (size == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[size++] = tokenId;
        if (endsInByteRun()) {
            return "";
        }
        return emit(false);
    }

    /** @return whatever is still pending at the end of the sequence (may hold U+FFFD for broken bytes) */
    public String flush() {
        return emit(true);
    }

    /** @return all output text so far */
    public String text() {
        return text.toString();
    }

    private String emit(boolean force) {
        if (readOffset == size) {
            return "";
        }
        String prefixText = tokenizer.decode(tokens, prefixOffset, readOffset, skipSpecialTokens);
        String newText = tokenizer.decode(tokens, prefixOffset, size, skipSpecialTokens);
        if (newText.length() <= prefixText.length()
                || (!force && newText.charAt(newText.length() - 1) == REPLACEMENT)) {
            // Nothing visible yet (only skipped tokens), or an incomplete character: wait. Offsets
            // stay, so the window keeps visible text at its start.
            return "";
        }
        String delta = newText.substring(prefixText.length());
        prefixOffset = readOffset;
        readOffset = size;
        text.append(delta);
        return delta;
    }

    /** Whether the last token that decoding would see is a byte-fallback token (its run may go on). */
    private boolean endsInByteRun() {
        for (int i = size - 1; i >= readOffset; i--) {
            if (!tokenizer.isInvisible(tokens[i], skipSpecialTokens)) {
                return tokenizer.isByteFallback(tokens[i]);
            }
        }
        return false;
    }
}
