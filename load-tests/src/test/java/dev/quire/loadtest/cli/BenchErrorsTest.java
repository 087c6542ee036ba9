package dev.quire.loadtest.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** Every user error ends with one clear line on stderr and a non-zero exit status. */
class BenchErrorsTest {
    @TempDir
    Path dir;

    private static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static void assertOneLineError(Cli.Result r, int exitCode, String... fragments) {
        assertThat(r.exitCode()).as(r.err()).isEqualTo(exitCode);
        assertThat(r.err().strip().lines()).as(r.err()).hasSize(1);
        assertThat(r.err()).startsWith("quire bench: ").contains(fragments);
        assertThat(r.out()).isEmpty();
    }

    @Test
    void unreachableGrpcTarget() throws IOException {
        int port = closedPort();
        assertOneLineError(Cli.run("--target", "grpc://127.0.0.1:" + port, "-n", "2"), 1,
                "cannot reach grpc://127.0.0.1:" + port, "Connection refused");
    }

    @Test
    void unreachableHttpTarget() throws IOException {
        int port = closedPort();
        assertOneLineError(Cli.run("--base-url", "http://127.0.0.1:" + port, "-n", "2"), 1,
                "cannot reach http://127.0.0.1:" + port, "Connection refused");
    }

    @Test
    void badDatasetFiles() throws IOException {
        assertOneLineError(Cli.run("--dataset", dir.resolve("nope.json").toString()), 1, "dataset file not found");
        Path broken = dir.resolve("broken.json");
        Files.writeString(broken, "[{\"conversations\": [}");
        assertOneLineError(Cli.run("--dataset", broken.toString()), 1, "broken.json", "not valid JSON", "line 1");
        Path jsonl = dir.resolve("d.jsonl");
        Files.writeString(jsonl, "{\"prompt\": \"hi\", \"output_len\": 2}\nnot json\n");
        assertOneLineError(Cli.run("--dataset", jsonl.toString()), 1, "d.jsonl line 2", "not valid JSON");
        assertOneLineError(Cli.run("--workload", "sharegpt"), 1, "needs --dataset FILE");
    }

    @ParameterizedTest
    @ValueSource(strings = {"ttft", "ttft=fast", "speed=5ms", "ttft=-1ms", "ttft=5ms;tpot=4ms"})
    void badSloSyntax(String slo) {
        assertOneLineError(Cli.run("--slo", slo), 1, "bad --slo '" + slo + "'");
    }

    @Test
    void badOptionValues() {
        assertOneLineError(Cli.run("--duration", "soon"), 1, "--duration: 'soon' is not a duration");
        assertOneLineError(Cli.run("--request-rate", "0"), 1, "--request-rate");
        assertOneLineError(Cli.run("-c", "4,x"), 1, "--concurrency: 'x'");
        assertOneLineError(Cli.run("-c", "1,2", "--request-rate", "1,2"), 1, "sweep either");
        assertOneLineError(Cli.run("--duration", "10s"), 1, "--duration needs a finite --request-rate or a --concurrency");
        assertOneLineError(Cli.run("--worker-pid-file", "x.pid"), 1, "need --kill-worker-at");
        assertOneLineError(Cli.run("--kill-worker-at", "5s"), 1, "--worker-pid-file or --fault-command");
        assertOneLineError(Cli.run("--percentiles", "99,101"), 1, "--percentiles: '101'");
        assertOneLineError(Cli.run("--target", "ftp://x:1"), 1, "unsupported target scheme 'ftp'");
        assertOneLineError(Cli.run("--target", "grpc://localhost:1", "--endpoint", "chat"), 1, "--endpoint chat");
        assertOneLineError(Cli.run("--no-such-option"), 2, "Unknown option: '--no-such-option'");
        assertOneLineError(Cli.run("-n", "many"), 2, "-n");
    }

    @Test
    void badExtraBody() throws IOException {
        String http = "http://127.0.0.1:" + closedPort();
        assertOneLineError(Cli.run("--base-url", http, "--extra-body", "[1, 2]"), 1,
                "--extra-body must be a JSON object", "got a JSON array");
        assertOneLineError(Cli.run("--base-url", http, "--extra-body", "cache_prompt=false"), 1,
                "--extra-body must be a JSON object", "is not valid JSON");
        assertOneLineError(Cli.run("--base-url", http, "--extra-body", "{\"max_tokens\": 5}"), 1,
                "--extra-body: \"max_tokens\" is set by quire bench itself; use --output-len");
        assertOneLineError(Cli.run("--base-url", http, "--no-stream", "--extra-body", "{\"stream\": true}"), 1,
                "--extra-body: \"stream\"", "use --[no-]stream");
        assertOneLineError(Cli.run("--extra-body", "{\"cache_prompt\": false}"), 1,
                "--extra-body is for OpenAI-compatible HTTP targets");
        assertOneLineError(Cli.run("--target", "grpc://localhost:1", "--extra-body", "{}"), 1,
                "--extra-body is for OpenAI-compatible HTTP targets");
    }

    @Test
    void helpExplainsTheCommand() {
        Cli.Result r = Cli.run("--help");
        assertThat(r.exitCode()).isZero();
        assertThat(r.out()).contains("quire bench", "--target", "--base-url", "--model", "--api-key", "--request-rate",
                "--burstiness", "--concurrency", "--duration", "--warmup-requests", "--ignore-eos", "--temperature",
                "--[no-]stream", "--slo", "--out", "--kill-worker-at", "--worker-pid-file", "--fault-command",
                "--seed", "--dataset", "--extra-body", "Not for grpc:// targets", "Examples:", "TTFT", "TPOT", "ITL", "E2EL", "Exit status");
        assertThat(r.out().lines()).allSatisfy(line -> assertThat(line.length()).as(line).isLessThanOrEqualTo(100));
    }
}
