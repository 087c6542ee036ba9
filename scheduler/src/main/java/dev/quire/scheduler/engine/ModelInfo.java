package dev.quire.scheduler.engine;

import java.util.Objects;

/**
 * The facts about a served model that a gateway needs, as data: a worker publishes them and a
 * gateway renders chat templates, checks limits and shows token texts with nothing else.
 *
 * @param name         the name clients use
 * @param vocabSize    the model's vocabulary size (token ids are in {@code [0, vocabSize)})
 * @param maxModelLen  most tokens (prompt + output) one sequence may hold on the serving engine
 * @param chatTemplate the model's Jinja chat template, or null when it has none
 * @param bosToken     the beginning-of-sequence token's text, or null
 * @param eosToken     the end-of-sequence token's text, or null
 * @param vocabulary   the tokenizer's vocabulary
 */
public record ModelInfo(String name, int vocabSize, int maxModelLen, String chatTemplate, String bosToken,
                        String eosToken, TokenVocabulary vocabulary) {
    public ModelInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(vocabulary, "vocabulary");
        if (vocabSize <= 0 || maxModelLen <= 0) {
            throw new IllegalArgumentException("vocabSize and maxModelLen must be positive, got " + vocabSize
                    + " and " + maxModelLen);
        }
    }
}
