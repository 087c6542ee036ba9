package dev.quire.gateway.cli;

import picocli.CommandLine.Option;

/** How a long-running quire process logs: {@code --log-format text|json}. */
public final class LoggingOptions {
    /** The formats of the console log. */
    public enum Format { text, json }

    @Option(names = "--log-format", defaultValue = "text", paramLabel = "FORMAT",
            description = "Console log format: text, or json (one JSON object per line, for containers and log "
                    + "collectors) (default: ${DEFAULT-VALUE}).")
    Format logFormat;

    /** Applies the format; call before the process logs anything (the log reads it when it starts). */
    public void apply() {
        System.setProperty("quire.log.format", logFormat.name());
    }
}
