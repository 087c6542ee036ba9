package dev.quire.server.cli;

import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ConnectionLimits;
import dev.quire.gateway.admission.PriorityPolicy;
import dev.quire.gateway.cli.ConfigDefaults;
import dev.quire.gateway.cli.QuireCli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class ServeCommandTest {
    @TempDir
    Path dir;

    /** Parses {@code serve} options the way main does, without starting anything. */
    static ServeCommand parse(Map<String, String> env, String... args) {
        CommandLine cli = QuireCli.commandLine();
        ConfigDefaults defaults = ConfigDefaults.from(args, env);
        defaults.validate(cli);
        cli.setDefaultValueProvider(defaults);
        CommandLine.ParseResult result = cli.parseArgs(args);
        return (ServeCommand) result.subcommand().commandSpec().userObject();
    }

    @Test
    void builtInDefaults() {
        ServeCommand s = parse(Map.of(), "serve");
        assertThat(s.gateway.grpcPort).isEqualTo(50051);
        assertThat(s.gateway.httpPort).isEqualTo(8000);
        assertThat(s.gateway.queueTimeout).isEqualTo(Duration.ofSeconds(60));
        assertThat(s.gateway.limits().slowClientTimeout()).isEqualTo(Duration.ofSeconds(60));
        assertThat(parse(Map.of(), "serve", "--slow-client-timeout", "0s").gateway.limits().slowClientTimeout())
                .isZero();
        assertThat(s.gateway.maxRequestBytes).isEqualTo(4L << 20);
        assertThat(s.gateway.apiKeys).isEmpty();
        assertThat(s.engine.noPrefixCaching).isFalse();
    }

    @Test
    void flagsBeatYamlWhichBeatsEnvironment() throws Exception {
        Path yaml = dir.resolve("quire.yaml");
        Files.writeString(yaml, """
                grpc-port: 7001
                http-port: 7002
                api-key: [k1, k2]
                no-prefix-caching: true
                """);
        Map<String, String> env = Map.of("QUIRE_GRPC_PORT", "6001", "QUIRE_HTTP_PORT", "6002",
                "QUIRE_MAX_SEQS", "12", "QUIRE_DRAIN_TIMEOUT", "5s");
        ServeCommand s = parse(env, "serve", "--config", yaml.toString(), "--grpc-port", "8001");
        assertThat(s.gateway.grpcPort).isEqualTo(8001);      // flag
        assertThat(s.gateway.httpPort).isEqualTo(7002);      // YAML over environment
        assertThat(s.engine.maxSeqs).isEqualTo(12);         // environment over default
        assertThat(s.gateway.drainTimeout).isEqualTo(Duration.ofSeconds(5));
        assertThat(s.gateway.apiKeys).containsExactly("k1", "k2");
        assertThat(s.engine.noPrefixCaching).isTrue();
    }

    @Test
    void unknownYamlKeyAndBadValuesAreOneLineErrors() throws Exception {
        Path yaml = dir.resolve("typo.yaml");
        Files.writeString(yaml, "grpc-prot: 1\n");
        assertThat(runCapturingErr("serve", "--config", yaml.toString()))
                .isEqualTo(new Result(2, "quire: config file " + yaml + ": unknown option 'grpc-prot'"));
        assertThat(runCapturingErr("serve", "--config", dir.resolve("missing.yaml").toString()).code()).isEqualTo(2);
        assertThat(runCapturingErr("serve", "--queue-timeout", "soon").message()).contains("not a duration");
        assertThat(runCapturingErr("serve", "--kv-cache-bytes", "lots").message()).contains("not a size");
    }

    @Test
    void priorityOptionsSetTheServersPolicy() {
        assertThat(parse(Map.of(), "serve").gateway.limits().priority()).isEqualTo(PriorityPolicy.defaults());
        ServeCommand s = parse(Map.of("QUIRE_MIN_PRIORITY", "-5"), "serve", "--default-priority", "3");
        assertThat(s.gateway.limits().priority()).isEqualTo(new PriorityPolicy(3, -5));
        assertThat(parse(Map.of(), "serve", "--min-priority", "-20", "--default-priority", "-10").gateway.limits()
                .priority()).isEqualTo(new PriorityPolicy(-10, -20));
        assertThat(runCapturingErr("serve", "--default-priority", "2000"))
                .isEqualTo(new Result(1, "quire: --default-priority must be in [-1000, 1000], got 2000"));
        assertThat(runCapturingErr("serve", "--min-priority", "5"))
                .isEqualTo(new Result(1, "quire: --default-priority 0 is below --min-priority 5, the most urgent "
                        + "priority allowed"));
    }

    @Test
    void connectionAndTextWorkOptionsSetTheServersBounds() {
        AdmissionLimits defaults = parse(Map.of(), "serve").gateway.limits();
        assertThat(defaults.connections()).isEqualTo(new ConnectionLimits(1000, 10_000, Duration.ofMinutes(5)));
        assertThat(defaults.maxTextJobs()).isEqualTo(1024);
        AdmissionLimits set = parse(Map.of("QUIRE_IDLE_TIMEOUT", "30s"), "serve", "--max-streams-per-connection", "50",
                "--max-connections", "7", "--max-text-jobs", "3").gateway.limits();
        assertThat(set.connections()).isEqualTo(new ConnectionLimits(50, 7, Duration.ofSeconds(30)));
        assertThat(set.maxTextJobs()).isEqualTo(3);
        assertThat(parse(Map.of(), "serve", "--idle-timeout", "0s").gateway.limits().connections().idleTimeout())
                .isZero();
        assertThat(runCapturingErr("serve", "--max-connections", "0"))
                .isEqualTo(new Result(1, "quire: --max-connections must be positive, got 0"));
    }

    @Test
    void badModelFolderFailsAtStartUpNamingTheProblem() {
        Result r = runCapturingErr("serve", "--model", dir.resolve("nope").toString(), "--grpc-port", "0",
                "--http-port", "0");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.message()).startsWith("quire: ").contains("nope").contains("not found");
        assertThat(runCapturingErr("serve", "--model", dir.toString(), "--grpc-port", "0", "--http-port", "0"))
                .isEqualTo(new Result(1, "quire: " + dir.resolve("config.json") + ": not found"));
    }

    @Test
    void aMissingGpuIsAOneLineStartUpError() {
        Result r = runCapturingErr("serve", "--device", "cuda:7", "--grpc-port", "0", "--http-port", "0");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.message()).startsWith("quire: --device cuda:7: no such GPU");
    }

    @Test
    void helpListsEveryServeOptionWithItsDefault() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        QuireCli.commandLine().getSubcommands().get("serve").usage(new PrintStream(out));
        String help = out.toString();
        for (String option : new String[]{"--model", "--grpc-port", "--http-port", "--api-key", "--rate-limit-rpm",
                "--max-queued-requests", "--drain-timeout", "--config", "--kv-cache-bytes", "--default-priority",
                "--min-priority"}) {
            assertThat(help).contains(option);
        }
        assertThat(help).contains("default: 50051").contains("QUIRE_GRPC_PORT");
    }

    record Result(int code, String message) {
    }

    static Result runCapturingErr(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        int code;
        try {
            System.setErr(new PrintStream(err, true));
            code = runWithErr(args, new PrintWriter(err, true));
        } finally {
            System.setErr(old);
        }
        String last = err.toString().strip().lines().reduce((a, b) -> b).orElse("");
        return new Result(code, last);
    }

    private static int runWithErr(String[] args, PrintWriter err) {
        return QuireCli.run(args, Map.of(), err);
    }
}
