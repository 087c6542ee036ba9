package dev.quire.server.openai;

import dev.quire.gateway.openai.Http;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.server.AllInOneServer;
import dev.quire.server.ServerAssertions;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.worker.engine.EngineConfig;
import dev.quire.worker.model.TextTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Keys, limits and draining on the OpenAI API, against a server with two API keys, one request at
 * a time, 8 requests per minute per key and 16 KiB bodies. Its model is a copy of the bundled one
 * whose tokenizer_config.json gains a Llama-2 chat template. The rate limits read a clock only the
 * test moves, and a test that needs a request to stay in flight holds the engine after a step.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OpenAiAdmissionTest {
    static final int MAX_BODY = 16 * 1024;
    static final int REQUESTS_PER_MINUTE = 8;
    static final String[] K1 = {"authorization", "Bearer k1"};
    static final String[] K2 = {"authorization", "Bearer k2"};

    @TempDir
    static Path modelDir;
    static AllInOneServer server;
    static int port;
    /** The admission clock (nanoseconds): frozen unless a test moves it. */
    static final AtomicLong CLOCK = new AtomicLong(1_000_000_000_000L);
    /** While set, the engine thread waits after each step (until the server stops). */
    static final AtomicBoolean HELD = new AtomicBoolean();

    @BeforeAll
    static void start() throws Exception {
        try (var files = Files.list(OpenAiApiTest.MODEL)) {
            for (Path f : files.toList()) {
                Files.copy(f, modelDir.resolve(f.getFileName()));
            }
        }
        Path config = modelDir.resolve(TextTokenizer.TOKENIZER_CONFIG_FILE);
        ObjectNode tokenizerConfig = (ObjectNode) Http.JSON.readTree(config.toFile());
        tokenizerConfig.put("chat_template", dev.quire.gateway.openai.ChatTemplateTest.LLAMA2);
        Files.writeString(config, tokenizerConfig.toString());

        server = AllInOneServer.start(AllInOneServer.Options.local(modelDir,
                        EngineConfig.defaults().withKvCacheBytes(64L << 20))
                .withKeys(ApiKeys.of(List.of("k1", "k2")))
                .withLimits(new AdmissionLimits(1, 1, Duration.ofSeconds(60), REQUESTS_PER_MINUTE, 0, 0, 0, MAX_BODY)),
                CLOCK::get);
        port = server.httpPort();
        AllInOneServer s = server;
        s.engine().onStep(r -> {
            while (HELD.get() && s.engine().health().alive()) {
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        });
    }

    @AfterAll
    static void stop() throws Exception {
        HELD.set(false);
        if (server != null) {
            server.close();
        }
    }

    static Http.Reply post(String path, String json, String... headers) {
        return Http.post(port, path, json, headers);
    }

    @Test
    @Order(1)
    void withoutAValidKeyEverythingIs401() {
        for (Http.Reply r : List.of(
                post("/v1/completions", "{\"prompt\":[1]}"),
                post("/v1/completions", "{\"prompt\":[1]}", "authorization", "Bearer nope"),
                post("/v1/chat/completions", "{not json", "authorization", "Basic azE6"), // the key comes before the body
                Http.get(port, "/v1/models"))) {
            assertThat(r.status()).as(r.body()).isEqualTo(401);
            assertThat(r.header("www-authenticate")).isEqualTo("Bearer");
            JsonNode error = r.error();
            assertThat(error.get("type").asText()).isEqualTo("authentication_error");
            assertThat(error.get("code").asText()).isEqualTo("invalid_api_key");
        }
        assertThat(Http.get(port, "/v1/models", K1).status()).isEqualTo(200);
        assertThat(Http.get(port, "/health").status()).as("health needs no key").isEqualTo(200);
    }

    @Test
    @Order(2)
    void bodiesOverTheLimitAre413() throws Exception {
        String big = "{\"prompt\":\"" + "a".repeat(MAX_BODY) + "\"}";
        Http.Reply r = post("/v1/completions", big, K1);
        assertThat(r.status()).isEqualTo(413);
        JsonNode error = r.error();
        assertThat(error.get("code").asText()).isEqualTo("request_too_large");
        assertThat(error.get("message").asText()).contains(Integer.toString(MAX_BODY));

        // Chunked, with no Content-Length to refuse up front: the limit holds while reading.
        HttpRequest chunked = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .header("content-type", "application/json").header(K1[0], K1[1])
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(
                        big.getBytes(StandardCharsets.UTF_8))))
                .build();
        HttpResponse<String> response = HttpClient.newHttpClient().send(chunked, HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(413);
        assertThat(response.body()).contains("request_too_large");
    }

    @Test
    @Order(3)
    void chatUsesTheModelsTemplateWithoutASecondBos() {
        Http.Reply r = post("/v1/chat/completions", "{\"messages\":[{\"role\":\"system\",\"content\":\"Be kind.\"},"
                + "{\"role\":\"user\",\"content\":\"Tell me a story.\"}],\"max_tokens\":4,\"temperature\":0}", K1);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        String rendered = "<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nTell me a story. [/INST]";
        int[] ids = server.engine().text().encode(rendered, false);
        assertThat(ids[0]).as("the template's <s> is the BOS token").isEqualTo(1);
        assertThat(ids[1]).isNotEqualTo(1);
        assertThat(r.json().get("usage").get("prompt_tokens").asInt()).isEqualTo(ids.length);
    }

    @Test
    @Order(4)
    void raiseExceptionInTheTemplateIs400() {
        Http.Reply r = post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
                + "{\"role\":\"user\",\"content\":\"b\"}]}", K1);
        assertThat(r.status()).isEqualTo(400);
        JsonNode error = r.error();
        assertThat(error.get("param").asText()).isEqualTo("messages");
        assertThat(error.get("message").asText()).contains("roles must alternate");
    }

    @Test
    @Order(5)
    void overloadIs429WithRetryAfter() throws Exception {
        String body = "{\"prompt\":[1],\"max_tokens\":400,\"ignore_eos\":true,\"stream\":true}";
        // Held after its first step, the stream holds the only slot until the test lets go.
        HELD.set(true);
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k1\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            InputStream in = socket.getInputStream();
            StringBuilder seen = new StringBuilder();
            byte[] buf = new byte[4096];
            while (!seen.toString().contains("data: {")) {
                int n = in.read(buf);
                assertThat(n).isPositive();
                seen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            }
            // One request at a time: the next one is refused at once.
            Http.Reply r = post("/v1/completions", "{\"prompt\":[1],\"max_tokens\":2}", K2);
            assertThat(r.status()).isEqualTo(429);
            assertThat(r.header("retry-after")).isEqualTo("1");
            assertThat(r.error().get("code").asText()).isEqualTo("server_overloaded");
            assertThat(server.dispatcher().liveRequests()).as("the stream still runs").isEqualTo(1);
            assertThat(server.metrics().scrape()).contains("quire_request_failure_total{kind=\"overloaded\"} 1.0");
        } finally {
            HELD.set(false);
        }
        ServerAssertions.awaitIdle(server);
    }

    @Test
    @Order(6)
    void aRefusedPromptCancelsItsSiblings() throws Exception {
        // Two prompts, one slot: the first is admitted, the second refused; the first must not linger. The engine
        // is held, so the first cannot finish (and free the slot) before the second asks for it.
        HELD.set(true);
        try {
            Http.Reply r = post("/v1/completions", "{\"prompt\":[[1],[1]],\"max_tokens\":300,\"ignore_eos\":true}",
                    K1);
            assertThat(r.status()).isEqualTo(429);
            assertThat(r.error().get("code").asText()).isEqualTo("server_overloaded");
        } finally {
            HELD.set(false);
        }
        ServerAssertions.awaitIdle(server);
    }

    @Test
    @Order(7)
    void overTheRateLimitIs429WithRetryAfter() {
        // k2 used one request above; k1's use does not count against k2.
        for (int i = 1; i < REQUESTS_PER_MINUTE; i++) {
            Http.Reply ok = post("/v1/completions", "{\"prompt\":[1],\"max_tokens\":1}", K2);
            assertThat(ok.status()).as(ok.body()).isEqualTo(200);
        }
        Http.Reply r = post("/v1/completions", "{\"prompt\":[1],\"max_tokens\":1}", K2);
        assertThat(r.status()).isEqualTo(429);
        // The clock has not moved: the next request's token comes in 60 s / 8 = 7.5 s, rounded up.
        assertThat(r.header("retry-after")).isEqualTo("8");
        JsonNode error = r.error();
        assertThat(error.get("type").asText()).isEqualTo("rate_limit_error");
        assertThat(error.get("code").asText()).isEqualTo("rate_limit_exceeded");
        assertThat(server.metrics().scrape()).contains("quire_request_failure_total{kind=\"rate_limited\"} 1.0");
        assertThat(post("/v1/completions", "{\"prompt\":[1],\"max_tokens\":1}", K1).status()).isEqualTo(200);

        // 7.6 s later one more request's worth has come back, and no more.
        CLOCK.addAndGet(7_600_000_000L);
        Http.Reply refilled = post("/v1/completions", "{\"prompt\":[1],\"max_tokens\":1}", K2);
        assertThat(refilled.status()).as(refilled.body()).isEqualTo(200);
        assertThat(post("/v1/completions", "{\"prompt\":[1],\"max_tokens\":1}", K2).status()).isEqualTo(429);
    }

    @Test
    @Order(8)
    void drainingIs503() {
        server.dispatcher().admission().startDraining();
        for (String path : List.of("/v1/completions", "/v1/chat/completions")) {
            Http.Reply r = post(path, "{\"prompt\":[1],\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}"
                    .replace(path.contains("chat") ? "\"prompt\":[1]," : ",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]", ""), K1);
            assertThat(r.status()).as(r.body()).isEqualTo(503);
            assertThat(r.error().get("code").asText()).isEqualTo("draining");
        }
        assertThat(Http.get(port, "/ready").status()).isEqualTo(503);
    }
}
