package dev.quire.gateway.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code quire} command line. */
@Command(name = "quire", mixinStandardHelpOptions = true, versionProvider = QuireCli.Version.class,
        description = "Quire: a distributed, continuously batched LLM inference cluster.",
        subcommands = {ServeCommand.class, CommandLine.HelpCommand.class})
public final class QuireCli implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    public static CommandLine commandLine() {
        return new CommandLine(new QuireCli())
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setExecutionExceptionHandler((error, commandLine, parsed) -> {
                    // Configuration and checkpoint problems are the user's to fix: one clear line.
                    if (!(error instanceof IllegalArgumentException || error instanceof IllegalStateException)) {
                        error.printStackTrace(commandLine.getErr());
                    }
                    commandLine.getErr().println("quire: " + error.getMessage());
                    return 1;
                });
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = QuireCli.class.getPackage().getImplementationVersion();
            return new String[]{"quire " + (v == null ? "development build" : v)};
        }
    }
}
