package dev.quire.worker.model;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the test models live: the vendored real checkpoint, resolved from the module's working dir. */
public final class TestModels {

    private TestModels() {}

    /**
     * The vendored stories260K model (a real, trained 260K-parameter Llama with its tokenizer).
     * Maven runs tests in {@code worker/}; IDEs often run them from the repository root.
     */
    public static Path stories260K() {
        for (Path candidate : new Path[] {Path.of("../models/stories260K"), Path.of("models/stories260K")}) {
            if (Files.isRegularFile(candidate.resolve("config.json"))) {
                return candidate.toAbsolutePath().normalize();
            }
        }
        throw new IllegalStateException("models/stories260K not found from " + Path.of("").toAbsolutePath());
    }

    /** The 256 ids greedy decoding produces from {@code [1]}, per llama2.c ({@code golden-greedy-ids.txt}). */
    public static int[] goldenGreedyIds() {
        try {
            String text = Files.readString(stories260K().resolve("golden-greedy-ids.txt")).trim();
            return java.util.Arrays.stream(text.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
