package dev.quire.gateway.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code --no-console}, like every option, as a flag, a YAML key and an environment variable. */
class NoConsoleOptionTest {
    @TempDir
    Path dir;

    static GatewayCommand parse(Map<String, String> env, String... args) {
        CommandLine cli = QuireCli.commandLine();
        ConfigDefaults defaults = ConfigDefaults.from(args, env);
        defaults.validate(cli);
        cli.setDefaultValueProvider(defaults);
        return (GatewayCommand) cli.parseArgs(args).subcommand().commandSpec().userObject();
    }

    @Test
    void theConsoleIsOnUnlessTurnedOff() throws Exception {
        assertThat(parse(Map.of(), "gateway").gateway.noConsole).isFalse();
        assertThat(parse(Map.of(), "gateway", "--no-console").gateway.noConsole).isTrue();
        assertThat(parse(Map.of("QUIRE_NO_CONSOLE", "true"), "gateway").gateway.noConsole).isTrue();
        Path yaml = dir.resolve("quire.yaml");
        Files.writeString(yaml, "no-console: true\n");
        assertThat(parse(Map.of(), "gateway", "--config", yaml.toString()).gateway.noConsole).isTrue();
        Files.writeString(yaml, "no-console: false\n");
        assertThat(parse(Map.of("QUIRE_NO_CONSOLE", "true"), "gateway", "--config", yaml.toString()).gateway.noConsole)
                .as("the file wins over the environment").isFalse();
    }

    @Test
    void theHelpNamesIt() {
        String help = QuireCli.commandLine().getSubcommands().get("gateway").getUsageMessage();
        assertThat(help).contains("--no-console").contains("web console");
    }
}
