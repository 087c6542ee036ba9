package dev.quire.worker.model;

import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.TokenVocabulary;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model as a worker loads it: its name, folder, configuration, tokenizer and chat template.
 * Loading checks the folder's config, tokenizer and template; the weights are read by the engine
 * that runs it.
 */
public record ServedModel(String name, Path directory, ModelConfig config, TextTokenizer tokenizer,
                          ChatTemplateSource chatTemplate) {

    /** Loads {@code directory}; the model is named {@code name}, or after the folder when null. */
    public static ServedModel load(Path directory, String name) {
        if (!Files.isDirectory(directory)) {
            throw new CheckpointException(directory + ": model folder not found");
        }
        ModelConfig config = ModelConfig.load(directory);
        ChatTemplateSource template = ChatTemplateSource.load(directory);
        TextTokenizer tokenizer = TextTokenizer.load(directory);
        String served = name != null && !name.isBlank() ? name : directory.toAbsolutePath().normalize()
                .getFileName().toString();
        return new ServedModel(served, directory, config, tokenizer, template);
    }

    /** The model as data for gateways, served with sequences of at most {@code maxModelLen} tokens. */
    public ModelInfo info(int maxModelLen) {
        return new ModelInfo(name, config.vocabSize(), maxModelLen, chatTemplate.template(), chatTemplate.bosToken(),
                chatTemplate.eosToken(), tokenizer != null ? tokenizer.vocabulary()
                        : new TokenVocabulary(new String[0], new boolean[0], TokenVocabulary.Decoding.PLAIN));
    }
}
