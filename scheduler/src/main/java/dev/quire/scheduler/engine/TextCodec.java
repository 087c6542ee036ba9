package dev.quire.scheduler.engine;

/**
 * Turns text into a model's token ids and back, exactly as the model's own tokenizer does. Calls
 * may block (a remote engine tokenizes on a worker): call them off event loops.
 */
public interface TextCodec {
    /**
     * Encodes text.
     *
     * @param addSpecialTokens whether to add the model's special tokens (BOS for Llama)
     */
    int[] encode(String text, boolean addSpecialTokens);

    /**
     * Decodes ids to text; ids outside the vocabulary are ignored.
     *
     * @param skipSpecialTokens whether to leave out special tokens such as {@code <s>}
     */
    String decode(int[] ids, boolean skipSpecialTokens);
}
