package dev.quire.worker.model;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model as clients see it: its name, configuration and tokenizer. Loading checks the folder's
 * config and tokenizer; the weights are read by the engine that runs it.
 */
public record ServedModel(String name, Path directory, ModelConfig config, TextTokenizer tokenizer) {

    /** Loads {@code directory}; the model is named {@code name}, or after the folder when null. */
    public static ServedModel load(Path directory, String name) {
        if (!Files.isDirectory(directory)) {
            throw new CheckpointException(directory + ": model folder not found");
        }
        ModelConfig config = ModelConfig.load(directory);
        TextTokenizer tokenizer = TextTokenizer.load(directory);
        String served = name != null && !name.isBlank() ? name : directory.toAbsolutePath().normalize()
                .getFileName().toString();
        return new ServedModel(served, directory, config, tokenizer);
    }
}
