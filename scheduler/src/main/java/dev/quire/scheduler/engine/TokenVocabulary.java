package dev.quire.scheduler.engine;

import java.util.Arrays;

/**
 * A tokenizer's vocabulary as data: each id's token string, which ids are special tokens, and how
 * the tokenizer's decoder maps token strings to bytes. Enough to show each generated token's text
 * and bytes (log-probabilities) without the tokenizer itself.
 *
 * @param tokens   token string by id ({@code "▁Once"}, {@code "ĠOnce"}, {@code "<0x0A>"}); null for unused ids
 * @param special  whether each id is a special token ({@code <s>})
 * @param decoding how token strings become bytes
 */
public record TokenVocabulary(String[] tokens, boolean[] special, Decoding decoding) {

    /** How a tokenizer's decoder maps vocabulary strings to text. */
    public enum Decoding {
        /** SentencePiece: "▁" is a space and {@code <0xNN>} a raw byte (Llama 1/2, Mistral). */
        SENTENCEPIECE,
        /** GPT-2 byte level: every byte is a printable stand-in character (Llama 3, Qwen). */
        BYTE_LEVEL,
        /** Anything else: the vocabulary string as it is. */
        PLAIN
    }

    public TokenVocabulary {
        if (tokens.length != special.length) {
            throw new IllegalArgumentException("tokens and special flags differ in length: " + tokens.length
                    + " vs " + special.length);
        }
        tokens = tokens.clone();
        special = special.clone();
    }

    public int size() {
        return tokens.length;
    }

    /** The token string of an id, or null if unknown. */
    public String token(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    public boolean isSpecial(int id) {
        return id >= 0 && id < special.length && special[id];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TokenVocabulary v && Arrays.equals(tokens, v.tokens) && Arrays.equals(special, v.special)
                && decoding == v.decoding;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(tokens) * 31 + Arrays.hashCode(special);
    }

    @Override
    public String toString() {
        return "TokenVocabulary[" + tokens.length + " tokens, " + decoding + "]";
    }
}
