package dev.quire.loadtest.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.server.AllInOneServer;
import dev.quire.worker.engine.EngineConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The harness against a real in-process Quire (all-in-one, the bundled stories260K model) over gRPC. */
class BenchAgainstQuireTest {
    static AllInOneServer server;
    static String target;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() throws Exception {
        server = AllInOneServer.start(AllInOneServer.Options.local(Path.of("../models/stories260K"),
                EngineConfig.defaults().withKvCacheBytes(64L << 20)));
        target = "grpc://127.0.0.1:" + server.grpcPort();
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private static void assertLatency(JsonNode p, String metric) {
        double mean = p.path("mean_" + metric + "_ms").asDouble(-1);
        double median = p.path("median_" + metric + "_ms").asDouble(-1);
        double std = p.path("std_" + metric + "_ms").asDouble(-1);
        double p90 = p.path("p90_" + metric + "_ms").asDouble(-1);
        double p99 = p.path("p99_" + metric + "_ms").asDouble(-1);
        assertThat(mean).as("mean " + metric).isPositive().isLessThan(60_000);
        assertThat(median).as("median " + metric).isPositive();
        assertThat(std).as("std " + metric).isGreaterThanOrEqualTo(0);
        assertThat(p90).as("p90 " + metric).isGreaterThanOrEqualTo(median * 0.999);
        assertThat(p99).as("p99 " + metric).isGreaterThanOrEqualTo(p90);
        assertThat(p.path("p99_" + metric + "_ms").isNumber()).isTrue();
    }

    @Test
    void measuresEveryMetricOfAClosedLoopRunPlausibly() throws Exception {
        Path out = dir.resolve("result.json");
        Cli.Result r = Cli.run("--target", target, "-n", "20", "-c", "4", "--input-len", "32", "--output-len", "16",
                "--ignore-eos", "--slo", "e2el=60s", "--out", out.toString(), "--save-requests");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out()).contains("Serving Benchmark Result", "Mean TTFT (ms):", "P99 ITL (ms):",
                "Client CPU (cores busy / available):");

        JsonNode json = Cli.json(out);
        JsonNode config = json.path("config");
        assertThat(config.path("backend").asText()).isEqualTo("quire-grpc");
        assertThat(config.path("model").asText()).isEqualTo("stories260K");
        assertThat(config.path("vocab_size").asInt()).as("from ListModels").isEqualTo(512);
        assertThat(config.path("max_context").asInt()).isEqualTo(512);
        assertThat(config.path("prompt_format").asText()).isEqualTo("ids");
        assertThat(config.path("command").asText()).startsWith("quire bench --target");

        JsonNode p = json.path("points").path(0);
        assertThat(p.path("label").asText()).isEqualTo("concurrency=4");
        assertThat(p.path("request_rate").asText()).isEqualTo("inf");
        assertThat(p.path("num_requests").asInt()).isEqualTo(20);
        assertThat(p.path("completed").asInt()).isEqualTo(20);
        assertThat(p.path("failed").asInt()).isZero();
        assertThat(p.path("truncated").asInt()).isZero();
        assertThat(p.path("duplicated").asInt()).isZero();
        assertThat(p.path("total_input_tokens").asInt()).as("usage.prompt_tokens: ids are sent as is").isEqualTo(640);
        assertThat(p.path("total_output_tokens").asInt()).as("ignore_eos: all 16 each").isEqualTo(320);
        double duration = p.path("duration").asDouble();
        assertThat(duration).isPositive().isLessThan(60);
        assertThat(p.path("request_throughput").asDouble()).isCloseTo(20 / duration, within(1e-6));
        assertThat(p.path("request_goodput").asDouble()).isCloseTo(20 / duration, within(1e-6));
        assertThat(p.path("output_throughput").asDouble()).isCloseTo(320 / duration, within(1e-6));
        assertThat(p.path("total_token_throughput").asDouble()).isCloseTo(960 / duration, within(1e-6));
        assertThat(p.path("max_output_tokens_per_s").asDouble()).isPositive().isLessThanOrEqualTo(320);
        assertThat(p.path("max_concurrent_requests").asInt()).isEqualTo(4);
        for (String metric : new String[]{"ttft", "tpot", "itl", "e2el"}) {
            assertLatency(p, metric);
        }
        assertThat(p.path("mean_ttft_ms").asDouble()).isLessThan(p.path("mean_e2el_ms").asDouble());
        assertThat(p.path("mean_tpot_ms").asDouble()).isLessThan(p.path("mean_e2el_ms").asDouble());
        assertThat(p.path("client_cpu_seconds").asDouble()).isPositive();
        assertThat(p.path("client_cpu_util").asDouble()).isPositive();
        assertThat(p.path("client_cores").asInt()).isPositive();
        assertThat(p.path("errors").size()).isZero();

        assertThat(p.path("requests")).hasSize(20);
        for (JsonNode req : p.path("requests")) {
            double ttft = req.path("ttft_ms").asDouble();
            double e2el = req.path("e2el_ms").asDouble();
            assertThat(req.path("outcome").asText()).isEqualTo("completed");
            assertThat(req.path("finish_reason").asText()).isEqualTo("length");
            assertThat(req.path("output_tokens").asInt()).isEqualTo(16);
            assertThat(req.path("prompt_tokens").asInt()).isEqualTo(32);
            assertThat(ttft).isPositive().isLessThanOrEqualTo(e2el);
            assertThat(req.path("tpot_ms").asDouble() * 15 + ttft).isCloseTo(e2el, within(1e-6 * e2el));
            // One gap per token-carrying chunk after the first; Quire streams a token or more per chunk,
            // and merges a stream's tokens into fewer chunks while its client reads slowly (a loaded
            // machine), down to a single chunk: no gap at all.
            assertThat(req.path("itl_ms").size()).isBetween(0, 15);
            double sum = 0;
            for (JsonNode gap : req.path("itl_ms")) {
                assertThat(gap.asDouble()).isGreaterThanOrEqualTo(0);
                sum += gap.asDouble();
            }
            assertThat(ttft + sum).isLessThanOrEqualTo(e2el + 1e-6);
        }
    }

    /** The OpenAI-compatible driver against Quire's own HTTP API: same workload, same counts. */
    @Test
    void drivesQuiresOpenAiHttpApiToo() throws Exception {
        for (String endpoint : new String[]{"completions", "chat"}) {
            Path out = dir.resolve("http-" + endpoint + ".json");
            Cli.Result r = Cli.run("--base-url", "http://127.0.0.1:" + server.httpPort(), "--endpoint", endpoint,
                    "--model", "stories260K", "--vocab-size", "512", "-n", "8", "-c", "4", "--input-len", "32",
                    "--output-len", "16", "--ignore-eos", "--out", out.toString());
            assertThat(r.exitCode()).as(endpoint + ": " + r.err()).isZero();
            JsonNode p = Cli.json(out).path("points").path(0);
            assertThat(p.path("completed").asInt()).as(endpoint).isEqualTo(8);
            assertThat(p.path("failed").asInt()).as(endpoint).isZero();
            assertThat(p.path("total_output_tokens").asInt()).as(endpoint + ": usage from the server").isEqualTo(128);
            assertLatency(p, "ttft");
            assertLatency(p, "e2el");
        }
    }

    @Test
    void aConcurrencySweepWritesOnePointPerLevelAndTheHtmlReport() throws Exception {
        Path out = dir.resolve("sweep.json");
        Cli.Result r = Cli.run("--target", target, "-n", "6", "-c", "1,3", "--input-len", "16", "--output-len", "8",
                "--ignore-eos", "--warmup-requests", "2", "--out", out.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode points = Cli.json(out).path("points");
        assertThat(points).hasSize(2);
        assertThat(points.path(0).path("label").asText()).isEqualTo("concurrency=1");
        assertThat(points.path(0).path("max_concurrent_requests").asInt()).isEqualTo(1);
        assertThat(points.path(1).path("max_concurrency").asInt()).isEqualTo(3);
        assertThat(points).allSatisfy(p -> assertThat(p.path("completed").asInt()).isEqualTo(6));
        Path html = dir.resolve("sweep.html");
        assertThat(html).exists();
        assertThat(Files.readString(html)).contains("<svg", "concurrency=3", "Time to first token");
        assertThat(r.out()).contains("Sweep summary");
    }

    @Test
    void aPoissonRateForADuration() throws Exception {
        Path out = dir.resolve("rate.json");
        Cli.Result r = Cli.run("--target", target, "--request-rate", "20", "--duration", "1s", "-c", "8",
                "--input-len", "8", "--output-len", "4", "--seed", "5", "--out", out.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode p = Cli.json(out).path("points").path(0);
        assertThat(p.path("label").asText()).isEqualTo("rate=20 concurrency=8");
        assertThat(p.path("request_rate").asDouble()).isEqualTo(20);
        // About 20 arrivals in the second; Poisson's spread, plus the first at t=0.
        assertThat(p.path("num_requests").asInt()).isBetween(6, 40);
        assertThat(p.path("failed").asInt()).isZero();
        assertThat(p.path("completed").asInt()).isEqualTo(p.path("num_requests").asInt());
    }

    @Test
    void sharedPrefixAndDatasetWorkloads() throws Exception {
        Path out = dir.resolve("prefix.json");
        Cli.Result r = Cli.run("--target", target, "--workload", "shared-prefix", "--prefix-groups", "2",
                "--prefix-len", "64", "--input-len", "8", "--output-len", "4", "--ignore-eos", "-n", "8", "-c", "4",
                "--out", out.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode p = Cli.json(out).path("points").path(0);
        assertThat(p.path("completed").asInt()).isEqualTo(8);
        assertThat(p.path("total_input_tokens").asInt()).isEqualTo(8 * 72);

        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, "{\"prompt\": \"Once upon a time\", \"output_len\": 5}\n"
                + "{\"prompt\": [1, 403, 407], \"output_len\": 3}\n");
        Path out2 = dir.resolve("jsonl.json");
        Cli.Result r2 = Cli.run("--target", target, "--dataset", data.toString(), "-n", "6", "-c", "2",
                "--ignore-eos", "--out", out2.toString(), "--save-requests");
        assertThat(r2.exitCode()).as(r2.err()).isZero();
        JsonNode p2 = Cli.json(out2).path("points").path(0);
        assertThat(Cli.json(out2).path("config").path("workload").asText()).isEqualTo("jsonl");
        assertThat(p2.path("completed").asInt()).isEqualTo(6);
        for (JsonNode req : p2.path("requests")) {
            // The server's usage: the text prompt tokenizes to BOS + 4 tokens.
            int prompt = req.path("prompt_tokens").asInt();
            assertThat(prompt).isIn(5, 3);
            assertThat(req.path("output_tokens").asInt()).isEqualTo(prompt == 5 ? 5 : 3);
        }
    }

    @Test
    void textPromptsWithoutStreamingMeasureOnlyEndToEnd() throws Exception {
        Path out = dir.resolve("text.json");
        Cli.Result r = Cli.run("--target", target, "--prompt-format", "text", "--no-stream", "-n", "4", "-c", "2",
                "--input-len", "10", "--output-len", "6", "--ignore-eos", "--temperature", "0.8", "--out",
                out.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode json = Cli.json(out);
        assertThat(json.path("config").path("prompt_format").asText()).isEqualTo("text");
        assertThat(json.path("config").path("stream").asBoolean()).isFalse();
        JsonNode p = json.path("points").path(0);
        assertThat(p.path("completed").asInt()).isEqualTo(4);
        assertThat(p.path("total_output_tokens").asInt()).isEqualTo(24);
        // Ten random words tokenize to at least ten tokens (plus BOS): the server's count is used.
        assertThat(p.path("total_input_tokens").asInt()).isGreaterThanOrEqualTo(4 * 11);
        assertThat(p.path("mean_ttft_ms").isNull()).isTrue();
        assertThat(p.path("mean_itl_ms").isNull()).isTrue();
        assertThat(p.path("mean_e2el_ms").asDouble()).isPositive();
    }

    @Test
    void killsTheWorkerMidRunAndRunsTheFaultCommand() throws Exception {
        Process worker = new ProcessBuilder("sleep", "60").start();
        try {
            Path pidFile = dir.resolve("worker.pid");
            Files.writeString(pidFile, worker.pid() + "\n");
            Path marker = dir.resolve("fault-ran");
            Path out = dir.resolve("fault.json");
            Cli.Result r = Cli.run("--target", target, "-n", "16", "-c", "2", "--input-len", "8", "--output-len", "64",
                    "--ignore-eos", "--kill-worker-at", "150ms", "--worker-pid-file", pidFile.toString(),
                    "--fault-command", "touch '" + marker + "'", "--out", out.toString());
            assertThat(r.exitCode()).as(r.err()).isZero();
            assertThat(worker.waitFor(10, TimeUnit.SECONDS)).as("the worker died").isTrue();
            assertThat(worker.exitValue()).as("killed by SIGKILL").isEqualTo(137);
            assertThat(marker).exists();

            JsonNode json = Cli.json(out);
            JsonNode faults = json.path("faults");
            assertThat(faults).hasSize(2);
            assertThat(faults.path(0).path("action").asText()).isEqualTo("kill -9 " + worker.pid());
            assertThat(faults.path(0).path("ok").asBoolean()).isTrue();
            assertThat(faults.path(0).path("at_s").asDouble()).isBetween(0.1, 30.0);
            // Measured without --save-requests: the recovery is computed over every request all the same.
            assertThat(faults.path(0).path("streams_in_flight").asInt()).as("closed loop of 2: streams run at 150 ms")
                    .isBetween(1, 2);
            assertThat(faults.path(0).path("streams_resumed").asInt())
                    .isEqualTo(faults.path(0).path("streams_in_flight").asInt());
            assertThat(faults.path(0).path("max_pause_ms").asDouble()).isPositive();
            assertThat(faults.path(1).path("action").asText()).startsWith("sh -c 'touch");
            assertThat(faults.path(1).path("ok").asBoolean()).isTrue();
            assertThat(json.path("config").path("fault").path("at_s").asDouble()).isEqualTo(0.15);
            JsonNode p = json.path("points").path(0);
            // The "worker" here is a stand-in process, so Quire itself keeps serving: every request completes.
            assertThat(p.path("completed").asInt() + p.path("failed").asInt() + p.path("truncated").asInt())
                    .isEqualTo(16);
            assertThat(p.path("completed").asInt()).isEqualTo(16);
            assertThat(p.path("duplicated").asInt()).isZero();
            assertThat(r.out()).contains("Injected faults", "kill -9 " + worker.pid());
        } finally {
            worker.destroyForcibly();
        }
    }

    @Test
    void refusesWorkloadsLongerThanTheModelsContextAndUnknownModels() {
        Cli.Result tooLong = Cli.run("--target", target, "--input-len", "500", "--output-len", "100", "-n", "1");
        assertThat(tooLong.exitCode()).isEqualTo(1);
        assertThat(tooLong.err()).contains("exceed the model's context of 512 tokens");
        Cli.Result unknown = Cli.run("--target", target, "--model", "gpt-9", "-n", "1");
        assertThat(unknown.exitCode()).isEqualTo(1);
        assertThat(unknown.err().strip()).isEqualTo("quire bench: model 'gpt-9' is not served by " + target
                + "; it serves: stories260K");
    }
}
