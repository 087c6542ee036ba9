package dev.quire.loadtest.cli;

import picocli.CommandLine;

/** Runs {@code bench} on its own: {@code java -cp 'load-tests/target/*:load-tests/target/lib/*' dev.quire.loadtest.cli.BenchMain --help}. */
public final class BenchMain {
    private BenchMain() {
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /**
     * The command line with the error handling {@code quire} uses: a configuration problem, a bad file or an
     * unreachable target prints one line and exits 1; a bad option prints one line and exits 2.
     */
    public static CommandLine commandLine() {
        return new CommandLine(new BenchCommand())
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setParameterExceptionHandler((error, args) -> {
                    CommandLine cmd = error.getCommandLine();
                    cmd.getErr().println("quire bench: " + error.getMessage().lines().findFirst().orElse("")
                            + " (see --help)");
                    return cmd.getCommandSpec().exitCodeOnInvalidInput();
                })
                .setExecutionExceptionHandler((error, cmd, parsed) -> {
                    if (!(error instanceof IllegalArgumentException || error instanceof IllegalStateException)) {
                        error.printStackTrace(cmd.getErr());
                    }
                    cmd.getErr().println("quire bench: " + error.getMessage());
                    return 1;
                });
    }
}
