package dev.quire.loadtest.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The HTTP driver end to end against {@link OpenAiPeer}, a test peer speaking the OpenAI streaming format
 * (Quire's own HTTP API is not in this tree yet).
 */
class OpenAiTargetTest {
    static OpenAiPeer peer;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() throws Exception {
        peer = new OpenAiPeer();
    }

    @AfterAll
    static void stop() throws Exception {
        peer.close();
    }

    @BeforeEach
    void clear() {
        peer.bodies.clear();
        peer.authorizations.clear();
        peer.failWith = 0;
    }

    private String url() {
        return "http://127.0.0.1:" + peer.port();
    }

    @Test
    void completionsStreamWithTokenIdPromptsAndUsage() throws Exception {
        Path out = dir.resolve("r.json");
        Cli.Result r = Cli.run("--base-url", url(), "-n", "12", "-c", "3", "--input-len", "20", "--output-len", "8",
                "--vocab-size", "1000", "--ignore-eos", "--api-key", "sk-test", "--out", out.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();

        JsonNode first = peer.bodies.get(0);
        assertThat(first.path("model").asText()).isEqualTo("peer-model");
        assertThat(first.path("prompt").isArray()).as("token ids by default").isTrue();
        assertThat(first.path("prompt")).hasSize(20);
        assertThat(first.path("max_tokens").asInt()).isEqualTo(8);
        assertThat(first.path("ignore_eos").asBoolean()).isTrue();
        assertThat(first.path("stream").asBoolean()).isTrue();
        assertThat(first.path("stream_options").path("include_usage").asBoolean()).isTrue();
        assertThat(first.path("temperature").asDouble()).isZero();
        assertThat(peer.authorizations).containsOnly("Bearer sk-test");

        JsonNode json = Cli.json(out);
        assertThat(json.path("config").path("backend").asText()).isEqualTo("openai-completions");
        assertThat(json.path("config").path("command").asText()).contains("--api-key ***").doesNotContain("sk-test");
        JsonNode p = json.path("points").path(0);
        assertThat(p.path("completed").asInt()).isEqualTo(12);
        assertThat(p.path("failed").asInt()).isZero();
        assertThat(p.path("total_output_tokens").asInt()).isEqualTo(96);
        assertThat(p.path("total_input_tokens").asInt()).isEqualTo(240);
        assertThat(p.path("max_concurrent_requests").asInt()).isEqualTo(3);
        double ttft = p.path("mean_ttft_ms").asDouble();
        double itl = p.path("mean_itl_ms").asDouble();
        assertThat(ttft).isPositive();
        assertThat(itl).isGreaterThanOrEqualTo(1.5); // the peer spaces chunks 2 ms apart
        assertThat(p.path("mean_tpot_ms").asDouble()).isCloseTo(itl, org.assertj.core.api.Assertions.within(itl * 0.2));
        assertThat(p.path("mean_e2el_ms").asDouble()).isGreaterThan(ttft);
    }

    @Test
    void chatStreamSkipsTheRoleChunkAndSendsText() throws Exception {
        Path out = dir.resolve("chat.json");
        Cli.Result r = Cli.run("--base-url", url() + "/v1", "--endpoint", "chat", "-n", "5", "-c", "5",
                "--input-len", "6", "--output-len", "4", "--out", out.toString(), "--save-requests");
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode first = peer.bodies.get(0);
        assertThat(first.path("messages").path(0).path("role").asText()).isEqualTo("user");
        assertThat(first.path("messages").path(0).path("content").asText().split(" ")).hasSize(6);
        assertThat(first.has("ignore_eos")).isFalse();
        JsonNode p = Cli.json(out).path("points").path(0);
        assertThat(p.path("completed").asInt()).isEqualTo(5);
        assertThat(p.path("total_output_tokens").asInt()).isEqualTo(20);
        for (JsonNode req : p.path("requests")) {
            assertThat(req.path("itl_ms")).as("4 token chunks, the role chunk untimed").hasSize(3);
            assertThat(req.path("finish_reason").asText()).isEqualTo("length");
            assertThat(req.path("outcome").asText()).isEqualTo("completed");
        }
    }

    @Test
    void withoutStreamingOnlyEndToEndIsMeasured() throws Exception {
        Path out = dir.resolve("ns.json");
        Cli.Result r = Cli.run("--base-url", url(), "--no-stream", "-n", "4", "-c", "2", "--prompt-format", "text",
                "--input-len", "5", "--output-len", "7", "--out", out.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(peer.bodies.get(0).path("stream").asBoolean(true)).isFalse();
        assertThat(peer.bodies.get(0).path("prompt").isTextual()).isTrue();
        JsonNode p = Cli.json(out).path("points").path(0);
        assertThat(p.path("completed").asInt()).isEqualTo(4);
        assertThat(p.path("total_output_tokens").asInt()).isEqualTo(28);
        assertThat(p.path("mean_ttft_ms").isNull()).isTrue();
        assertThat(p.path("mean_e2el_ms").asDouble()).isPositive();
        assertThat(r.out()).contains("Mean TTFT (ms):", "n/a");
    }

    @Test
    void extraBodyFieldsReachTheServer() throws Exception {
        Path out = dir.resolve("extra.json");
        Cli.Result r = Cli.run("--base-url", url(), "--endpoint", "chat", "-n", "3", "-c", "3", "--input-len", "4",
                "--output-len", "2", "--out", out.toString(), "--extra-body",
                "{\"cache_prompt\": false, \"stream_options\": {\"continuous_usage_stats\": true}, \"top_k\": 1}");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(peer.bodies).hasSize(4); // the test request and three measured ones
        for (JsonNode body : peer.bodies) {
            assertThat(body.path("cache_prompt").isBoolean()).isTrue();
            assertThat(body.path("cache_prompt").asBoolean()).isFalse();
            assertThat(body.path("top_k").asInt()).isEqualTo(1);
            assertThat(body.path("stream_options").path("include_usage").asBoolean()).isTrue();
            assertThat(body.path("stream_options").path("continuous_usage_stats").asBoolean()).isTrue();
            assertThat(body.path("messages").path(0).path("role").asText()).isEqualTo("user");
            assertThat(body.path("max_tokens").asInt()).isEqualTo(2);
        }
        JsonNode json = Cli.json(out);
        assertThat(json.path("config").path("extra_body").path("cache_prompt").isBoolean()).isTrue();
        assertThat(json.path("points").path(0).path("completed").asInt()).isEqualTo(3);
    }

    @Test
    void anHttpErrorFromTheServerIsAOneLineFailure() {
        peer.failWith = 400;
        Cli.Result r = Cli.run("--base-url", url(), "-n", "3", "--prompt-format", "text");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err().strip().lines().filter(l -> l.startsWith("quire bench: ") && !l.contains("workload")))
                .singleElement().asString().contains("first test request").contains("http_400").contains("peer refuses");
    }
}
