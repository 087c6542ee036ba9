package dev.quire.server.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the model that ships in the repository lives. */
final class BundledModel {
    static final String RELATIVE = "models/stories260K";

    private BundledModel() {
    }

    /** {@code $QUIRE_HOME/models/stories260K} (the launcher sets QUIRE_HOME), else relative to the working directory. */
    static Path path() {
        String home = System.getenv("QUIRE_HOME");
        if (home != null && !home.isBlank()) {
            return Path.of(home, RELATIVE);
        }
        Path here = Path.of(RELATIVE);
        return Files.isDirectory(here) ? here : Path.of("..", RELATIVE);
    }
}
