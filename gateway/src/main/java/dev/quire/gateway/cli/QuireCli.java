package dev.quire.gateway.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.LinkedHashMap;
import java.util.Map;

/** The {@code quire} command line. */
@Command(name = "quire", mixinStandardHelpOptions = true, versionProvider = QuireCli.Version.class,
        description = "Quire: a distributed, continuously batched LLM inference cluster.",
        subcommands = {GatewayCommand.class, ClusterCommand.class, CommandLine.HelpCommand.class})
public final class QuireCli implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args, System.getenv()));
    }

    /** Runs the command line with configuration from {@code env} (and the YAML file the args name). */
    public static int run(String[] args, java.util.Map<String, String> env) {
        return run(args, env, new java.io.PrintWriter(System.err, true));
    }

    public static int run(String[] args, java.util.Map<String, String> env, java.io.PrintWriter err) {
        CommandLine cli = commandLine();
        cli.setErr(err);
        try {
            ConfigDefaults defaults = ConfigDefaults.from(args, env);
            defaults.validate(cli);
            cli.setDefaultValueProvider(defaults);
        } catch (IllegalArgumentException e) {
            cli.getErr().println("quire: " + e.getMessage());
            return 2;
        }
        return cli.execute(args);
    }

    /**
     * Commands that live in modules the gateway must not depend on, found by name when the
     * launcher put them on the classpath: the processes that run a model (serve, worker: they
     * carry DJL and PyTorch, which a gateway process never loads) and the load-test harness.
     */
    static final Map<String, String> OPTIONAL_COMMANDS = new LinkedHashMap<>();

    static {
        OPTIONAL_COMMANDS.put("serve", "dev.quire.server.cli.ServeCommand");
        OPTIONAL_COMMANDS.put("worker", "dev.quire.server.cli.WorkerCommand");
        OPTIONAL_COMMANDS.put("bench", "dev.quire.loadtest.cli.BenchCommand");
        OPTIONAL_COMMANDS.put("soak", "dev.quire.loadtest.cli.SoakCommand");
    }

    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new QuireCli());
        OPTIONAL_COMMANDS.forEach((name, className) -> {
            try {
                cli.addSubcommand(name, Class.forName(className).getDeclaredConstructor().newInstance());
            } catch (ReflectiveOperationException | LinkageError e) {
                // Not on this classpath: this launcher has no such command.
            }
        });
        return cli
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setParameterExceptionHandler((error, args) -> {
                    CommandLine failed = error.getCommandLine();
                    failed.getErr().println("quire: " + error.getMessage() + " (see: quire "
                            + failed.getCommandSpec().qualifiedName(" ").replaceFirst("^quire ?", "") + " --help)");
                    return 2;
                })
                .setExecutionExceptionHandler((error, commandLine, parsed) -> {
                    // Configuration and checkpoint problems are the user's to fix: one clear line.
                    if (!(error instanceof IllegalArgumentException || error instanceof IllegalStateException
                            || error instanceof java.io.UncheckedIOException)) {
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
