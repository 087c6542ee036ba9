package dev.quire.server.openai;

import dev.quire.gateway.openai.Http;
import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import dev.quire.server.AllInOneServer;
import dev.quire.server.ServerAssertions;
import dev.quire.worker.engine.EngineConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The OpenAI-compatible API of a real all-in-one server (the bundled model, which has no chat
 * template, so chat uses the plain fallback), through the JDK's HTTP client and the official
 * OpenAI Java library.
 */
class OpenAiApiTest {
    static final Path MODEL = Path.of("../models/stories260K");
    static final String GOLDEN_START = "Once upon a time, there was a little girl named Lily";

    static AllInOneServer server;
    static int port;

    @BeforeAll
    static void start() throws Exception {
        server = AllInOneServer.start(AllInOneServer.Options.local(MODEL,
                EngineConfig.defaults().withKvCacheBytes(64L << 20)));
        port = server.httpPort();
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    static Http.Reply post(String path, String json) {
        return Http.post(port, path, json);
    }

    static String text(List<JsonNode> chunks) {
        return Http.text(chunks);
    }

    static Stream<JsonNode> stream(JsonNode array) {
        List<JsonNode> out = new ArrayList<>();
        array.forEach(out::add);
        return out.stream();
    }

    @Test
    void completionFromTheBosTokenIsTheGoldenStory() {
        Http.Reply r = post("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":[1],\"max_tokens\":20,\"temperature\":0}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        assertThat(r.header("content-type")).isEqualTo("application/json");
        JsonNode body = r.json();
        assertThat(Http.fields(body)).isEqualTo("id,object,created,model,choices,usage");
        assertThat(body.get("id").asText()).startsWith("cmpl-");
        assertThat(body.get("object").asText()).isEqualTo("text_completion");
        assertThat(body.get("model").asText()).isEqualTo("stories260K");
        assertThat(body.get("created").asLong()).isCloseTo(System.currentTimeMillis() / 1000, org.assertj.core.data.Offset.offset(60L));
        JsonNode choice = body.get("choices").get(0);
        assertThat(Http.fields(choice)).isEqualTo("index,text,logprobs,finish_reason");
        assertThat(choice.get("index").asInt()).isZero();
        assertThat(choice.get("text").asText()).startsWith(GOLDEN_START);
        assertThat(choice.get("logprobs").isNull()).isTrue();
        assertThat(choice.get("finish_reason").asText()).isEqualTo("length");
        assertThat(body.get("usage").toString()).isEqualTo("{\"prompt_tokens\":1,\"completion_tokens\":20,\"total_tokens\":21}");
    }

    @Test
    void streamedCompletionIsExactSseAndEqualsTheNonStreamedText() {
        String request = "{\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"temperature\":0%s}";
        String whole = post("/v1/completions", request.formatted("")).json().get("choices").get(0).get("text").asText();
        List<JsonNode> chunks = Http.events(post("/v1/completions", request.formatted(",\"stream\":true")));

        assertThat(chunks.size()).as("streamed, not one blob").isGreaterThan(10);
        String id = chunks.get(0).get("id").asText();
        assertThat(id).startsWith("cmpl-");
        for (JsonNode c : chunks) {
            assertThat(Http.fields(c)).isEqualTo("id,object,created,model,choices");
            assertThat(c.get("id").asText()).isEqualTo(id);
            assertThat(c.get("object").asText()).isEqualTo("text_completion");
            assertThat(c.get("model").asText()).isEqualTo("stories260K");
            assertThat(c.get("choices")).hasSize(1);
            assertThat(Http.fields(c.get("choices").get(0))).isEqualTo("index,text,logprobs,finish_reason");
        }
        assertThat(text(chunks)).isEqualTo(whole).startsWith(", there was a little girl named Lily");
        JsonNode last = chunks.get(chunks.size() - 1).get("choices").get(0);
        assertThat(last.get("finish_reason").asText()).isEqualTo("length");
        assertThat(chunks.subList(0, chunks.size() - 1))
                .allSatisfy(c -> assertThat(c.get("choices").get(0).get("finish_reason").isNull()).isTrue());
    }

    @Test
    void streamedFromTheBosTokenIsTheGoldenStory() {
        List<JsonNode> chunks = Http.events(post("/v1/completions",
                "{\"prompt\":[1],\"max_tokens\":20,\"temperature\":0,\"stream\":true}"));
        assertThat(text(chunks)).startsWith(GOLDEN_START);
    }

    @Test
    void chatCompletionUsesTheFallbackTemplate() throws Exception {
        Http.Reply r = post("/v1/chat/completions", "{\"messages\":[{\"role\":\"system\",\"content\":\"Tell stories.\"},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Once\"},{\"type\":\"text\",\"text\":\"upon\"}]}],"
                + "\"max_tokens\":8,\"temperature\":0,\"user\":\"someone\"}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        JsonNode body = r.json();
        assertThat(Http.fields(body)).isEqualTo("id,object,created,model,choices,usage");
        assertThat(body.get("id").asText()).startsWith("chatcmpl-");
        assertThat(body.get("object").asText()).isEqualTo("chat.completion");
        JsonNode choice = body.get("choices").get(0);
        assertThat(Http.fields(choice)).isEqualTo("index,message,logprobs,finish_reason");
        assertThat(choice.get("message").get("role").asText()).isEqualTo("assistant");
        assertThat(choice.get("message").get("content").asText()).isNotEmpty();
        assertThat(choice.get("finish_reason").asText()).isEqualTo("length");
        // The fallback prompt, text parts joined by newlines, tokenized with BOS.
        int promptTokens = server.engine().text()
                .encode("system: Tell stories.\nuser: Once\nupon\nassistant:", true).length;
        assertThat(body.get("usage").get("prompt_tokens").asInt()).isEqualTo(promptTokens);
        assertThat(body.get("usage").get("completion_tokens").asInt()).isEqualTo(8);
        assertThat(body.get("usage").get("total_tokens").asInt()).isEqualTo(promptTokens + 8);
    }

    @Test
    void streamedChatHasRoleFirstUsageLastAndTheSameText() {
        String request = "{\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"max_tokens\":16,"
                + "\"temperature\":0%s}";
        JsonNode whole = post("/v1/chat/completions", request.formatted("")).json();
        List<JsonNode> chunks = Http.events(post("/v1/chat/completions", request.formatted(
                ",\"stream\":true,\"stream_options\":{\"include_usage\":true}")));

        JsonNode first = chunks.get(0);
        assertThat(first.get("object").asText()).isEqualTo("chat.completion.chunk");
        assertThat(first.get("choices").get(0).get("delta").toString()).isEqualTo("{\"role\":\"assistant\",\"content\":\"\"}");
        JsonNode usageChunk = chunks.get(chunks.size() - 1);
        assertThat(Http.fields(usageChunk)).isEqualTo("id,object,created,model,choices,usage");
        assertThat(usageChunk.get("choices")).isEmpty();
        assertThat(usageChunk.get("usage")).isEqualTo(whole.get("usage"));
        List<JsonNode> rest = chunks.subList(0, chunks.size() - 1);
        assertThat(rest).allSatisfy(c -> {
            assertThat(c.get("usage").isNull()).as("usage is null on all but the last chunk").isTrue();
            assertThat(Http.fields(c.get("choices").get(0))).isEqualTo("index,delta,logprobs,finish_reason");
        });
        JsonNode finish = rest.get(rest.size() - 1).get("choices").get(0);
        assertThat(finish.get("finish_reason").asText()).isEqualTo("length");
        assertThat(text(chunks)).isEqualTo(whole.get("choices").get(0).get("message").get("content").asText());
    }

    @Test
    void stopStringEndsTheCompletionWithoutIt() {
        JsonNode choice = post("/v1/completions", "{\"prompt\":[1],\"max_tokens\":100,\"temperature\":0,\"stop\":[\"Lily\",\"zebra\"]}")
                .json().get("choices").get(0);
        assertThat(choice.get("text").asText()).isEqualTo("Once upon a time, there was a little girl named ");
        assertThat(choice.get("finish_reason").asText()).isEqualTo("stop");

        List<JsonNode> chunks = Http.events(post("/v1/completions",
                "{\"prompt\":[1],\"max_tokens\":100,\"temperature\":0,\"stop\":\"Lily\",\"stream\":true}"));
        assertThat(text(chunks)).isEqualTo("Once upon a time, there was a little girl named ");
        assertThat(chunks.get(chunks.size() - 1).get("choices").get(0).get("finish_reason").asText()).isEqualTo("stop");
    }

    @Test
    void completionLogprobsInTheLegacyShape() {
        String request = "{\"prompt\":[1],\"max_tokens\":5,\"temperature\":0,\"logprobs\":2%s}";
        JsonNode lp = post("/v1/completions", request.formatted("")).json().get("choices").get(0).get("logprobs");
        assertThat(Http.fields(lp)).isEqualTo("tokens,token_logprobs,top_logprobs,text_offset");
        assertThat(lp.get("tokens").toString()).isEqualTo("[\" Once\",\" upon\",\" a\",\" time\",\",\"]");
        assertThat(lp.get("text_offset").toString()).isEqualTo("[0,5,10,12,17]");
        assertThat(lp.get("token_logprobs")).hasSize(5).allSatisfy(v -> assertThat(v.asDouble()).isBetween(-20.0, 0.0));
        assertThat(lp.get("top_logprobs")).hasSize(5).allSatisfy(top -> assertThat(top.size()).isEqualTo(2));
        // Greedy: the chosen token is the likeliest alternative.
        for (int i = 0; i < 5; i++) {
            String token = lp.get("tokens").get(i).asText();
            assertThat(lp.get("top_logprobs").get(i).get(token).asDouble())
                    .isEqualTo(lp.get("token_logprobs").get(i).asDouble());
        }
        // Streamed, the same entries arrive spread over the chunks, offsets continuing.
        List<JsonNode> chunks = Http.events(post("/v1/completions", request.formatted(",\"stream\":true")));
        List<String> tokens = new ArrayList<>();
        List<Integer> offsets = new ArrayList<>();
        for (JsonNode c : chunks) {
            JsonNode l = c.get("choices").get(0).get("logprobs");
            if (!l.isNull()) {
                l.get("tokens").forEach(t -> tokens.add(t.asText()));
                l.get("text_offset").forEach(o -> offsets.add(o.asInt()));
            }
        }
        assertThat(tokens).containsExactly(" Once", " upon", " a", " time", ",");
        assertThat(offsets).containsExactly(0, 5, 10, 12, 17);

        // logprobs: 0 still gives each chosen token's logprob, with no alternatives.
        JsonNode zero = post("/v1/completions", "{\"prompt\":[1],\"max_tokens\":2,\"logprobs\":0}").json()
                .get("choices").get(0).get("logprobs");
        assertThat(zero.get("token_logprobs")).hasSize(2);
        assertThat(zero.get("top_logprobs").toString()).isEqualTo("[{},{}]");
    }

    @Test
    void chatLogprobsInTheChatShape() {
        JsonNode choice = post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                + "\"max_tokens\":4,\"temperature\":0,\"logprobs\":true,\"top_logprobs\":3}").json().get("choices").get(0);
        JsonNode lp = choice.get("logprobs");
        assertThat(Http.fields(lp)).isEqualTo("content,refusal");
        assertThat(lp.get("content")).hasSize(4);
        StringBuilder joined = new StringBuilder();
        for (JsonNode entry : lp.get("content")) {
            assertThat(Http.fields(entry)).isEqualTo("token,logprob,bytes,top_logprobs");
            byte[] bytes = new byte[entry.get("bytes").size()];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) entry.get("bytes").get(i).asInt();
            }
            assertThat(new String(bytes, StandardCharsets.UTF_8)).isEqualTo(entry.get("token").asText());
            assertThat(entry.get("top_logprobs")).hasSize(3).allSatisfy(t ->
                    assertThat(Http.fields(t)).isEqualTo("token,logprob,bytes"));
            assertThat(entry.get("top_logprobs").get(0).get("token").asText()).isEqualTo(entry.get("token").asText());
            joined.append(entry.get("token").asText());
        }
        assertThat(joined.toString()).isEqualTo(choice.get("message").get("content").asText());
    }

    @Test
    void aListOfPromptsGivesAChoiceEach() {
        String single = post("/v1/completions", "{\"prompt\":\"Lily\",\"max_tokens\":6,\"temperature\":0}").json()
                .get("choices").get(0).get("text").asText();
        JsonNode body = post("/v1/completions", "{\"prompt\":[\"Once upon a time\",\"Lily\"],\"max_tokens\":6,"
                + "\"temperature\":0}").json();
        assertThat(body.get("choices")).hasSize(2);
        assertThat(body.get("choices").get(0).get("index").asInt()).isZero();
        assertThat(body.get("choices").get(0).get("text").asText()).startsWith(", there was");
        assertThat(body.get("choices").get(1).get("index").asInt()).isEqualTo(1);
        assertThat(body.get("choices").get(1).get("text").asText()).isEqualTo(single);
        var tokenizer = server.engine().text();
        assertThat(body.get("usage").get("prompt_tokens").asInt()) // with BOS each
                .isEqualTo(tokenizer.encode("Once upon a time", true).length + tokenizer.encode("Lily", true).length);
        assertThat(body.get("usage").get("completion_tokens").asInt()).isEqualTo(12);

        // Lists of token ids too, streamed: every chunk names its choice.
        List<JsonNode> chunks = Http.events(post("/v1/completions",
                "{\"prompt\":[[1],[1,403]],\"max_tokens\":3,\"temperature\":0,\"stream\":true}"));
        assertThat(chunks).allSatisfy(c -> assertThat(c.get("choices")).hasSize(1));
        assertThat(chunks.stream().filter(c -> !c.get("choices").get(0).get("finish_reason").isNull())
                .map(c -> c.get("choices").get(0).get("index").asInt())).containsExactlyInAnyOrder(0, 1);
    }

    @Test
    void modelsAreListedAndRetrieved() {
        Http.Reply r = Http.get(port, "/v1/models");
        assertThat(r.status()).isEqualTo(200);
        JsonNode body = r.json();
        assertThat(body.get("object").asText()).isEqualTo("list");
        assertThat(body.get("data")).hasSize(1);
        JsonNode model = body.get("data").get(0);
        assertThat(Http.fields(model)).isEqualTo("id,object,created,owned_by,max_model_len");
        assertThat(model.get("id").asText()).isEqualTo("stories260K");
        assertThat(model.get("object").asText()).isEqualTo("model");
        assertThat(model.get("owned_by").asText()).isEqualTo("quire");
        assertThat(model.get("max_model_len").asInt()).isEqualTo(512);
        assertThat(Http.get(port, "/v1/models/stories260K").json()).isEqualTo(model);
        Http.Reply missing = Http.get(port, "/v1/models/gpt-9");
        assertThat(missing.status()).isEqualTo(404);
        assertThat(missing.error().get("code").asText()).isEqualTo("model_not_found");
    }

    static Stream<Arguments> badRequests() {
        String c = "/v1/completions";
        String chat = "/v1/chat/completions";
        String msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";
        String longPrompt = IntStream.range(0, 600).mapToObj(i -> "300").collect(Collectors.joining(","));
        return Stream.of(
                Arguments.of("max_tokens as a string", c, "{\"prompt\":\"a\",\"max_tokens\":\"ten\"}", 400, "max_tokens"),
                Arguments.of("negative max_tokens", c, "{\"prompt\":\"a\",\"max_tokens\":-1}", 400, "max_tokens"),
                Arguments.of("fractional max_tokens", c, "{\"prompt\":\"a\",\"max_tokens\":1.5}", 400, "max_tokens"),
                Arguments.of("huge max_tokens", c, "{\"prompt\":\"a\",\"max_tokens\":123456789012345678901234}", 400, "max_tokens"),
                Arguments.of("negative temperature", c, "{\"prompt\":\"a\",\"temperature\":-0.5}", 400, "temperature"),
                Arguments.of("infinite temperature", c, "{\"prompt\":\"a\",\"temperature\":1e999}", 400, "temperature"),
                Arguments.of("NaN temperature", c, "{\"prompt\":\"a\",\"temperature\":NaN}", 400, null),
                Arguments.of("top_p above one", c, "{\"prompt\":\"a\",\"top_p\":1.5}", 400, "top_p"),
                Arguments.of("presence_penalty out of range", c, "{\"prompt\":\"a\",\"presence_penalty\":3}", 400, "presence_penalty"),
                Arguments.of("seed as a string", c, "{\"prompt\":\"a\",\"seed\":\"7\"}", 400, "seed"),
                Arguments.of("n above one", c, "{\"prompt\":\"a\",\"n\":2}", 400, "n"),
                Arguments.of("best_of", c, "{\"prompt\":\"a\",\"best_of\":3}", 400, "best_of"),
                Arguments.of("echo", c, "{\"prompt\":\"a\",\"echo\":true}", 400, "echo"),
                Arguments.of("suffix", c, "{\"prompt\":\"a\",\"suffix\":\"end\"}", 400, "suffix"),
                Arguments.of("logit_bias", c, "{\"prompt\":\"a\",\"logit_bias\":{\"50\":5}}", 400, "logit_bias"),
                Arguments.of("logprobs above 20", c, "{\"prompt\":\"a\",\"logprobs\":21}", 400, "logprobs"),
                Arguments.of("unknown field", c, "{\"prompt\":\"a\",\"frobnicate\":1}", 400, "frobnicate"),
                Arguments.of("no prompt", c, "{\"max_tokens\":3}", 400, "prompt"),
                Arguments.of("empty prompt", c, "{\"prompt\":\"\"}", 400, "prompt"),
                Arguments.of("prompt of mixed kinds", c, "{\"prompt\":[\"a\",[1]]}", 400, "prompt"),
                Arguments.of("token id outside the vocabulary", c, "{\"prompt\":[1,512]}", 400, "prompt"),
                Arguments.of("prompt longer than the context", c, "{\"prompt\":[" + longPrompt + "]}", 400, "prompt"),
                Arguments.of("empty stop string", c, "{\"prompt\":\"a\",\"stop\":[\"\"]}", 400, "stop"),
                Arguments.of("stream_options without stream", c, "{\"prompt\":\"a\",\"stream_options\":{\"include_usage\":true}}", 400, "stream_options"),
                Arguments.of("stream as a string", c, "{\"prompt\":\"a\",\"stream\":\"yes\"}", 400, "stream"),
                Arguments.of("no messages", chat, "{\"max_tokens\":3}", 400, "messages"),
                Arguments.of("unknown role", chat, "{\"messages\":[{\"role\":\"robot\",\"content\":\"Hi\"}]}", 400, "messages[0].role"),
                Arguments.of("tool message", chat, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\",\"tool_call_id\":\"1\"}]}", 400, "messages[0].role"),
                Arguments.of("image content", chat, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}", 400, "messages[0].content[0].type"),
                Arguments.of("content as a number", chat, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "messages[0].content"),
                Arguments.of("top_logprobs without logprobs", chat, "{" + msgs + ",\"top_logprobs\":2}", 400, "top_logprobs"),
                Arguments.of("tools", chat, "{" + msgs + ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}", 400, "tools"),
                Arguments.of("json response_format", chat, "{" + msgs + ",\"response_format\":{\"type\":\"json_object\"}}", 400, "response_format"),
                Arguments.of("chat n above one", chat, "{" + msgs + ",\"n\":3}", 400, "n"),
                Arguments.of("unknown model", c, "{\"prompt\":\"a\",\"model\":\"gpt-9\"}", 404, "model"),
                Arguments.of("unknown chat model", chat, "{" + msgs + ",\"model\":\"gpt-9\"}", 404, "model"),
                Arguments.of("malformed JSON", c, "{\"prompt\":", 400, null),
                Arguments.of("trailing garbage", c, "{\"prompt\":\"a\"} x", 400, null),
                Arguments.of("duplicate field", c, "{\"prompt\":\"a\",\"prompt\":\"b\"}", 400, null),
                Arguments.of("body not an object", c, "[1,2]", 400, null),
                Arguments.of("empty body", c, "", 400, null));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badRequests")
    void badRequestsGetOpenAiErrorsNamingTheParam(String what, String path, String body, int status, String param) {
        Http.Reply r = post(path, body);
        assertThat(r.status()).as(r.body()).isEqualTo(status);
        assertThat(r.header("content-type")).isEqualTo("application/json");
        JsonNode error = r.error();
        assertThat(error.get("type").asText()).isEqualTo("invalid_request_error");
        if (param == null) {
            assertThat(error.get("param").isNull()).isTrue();
        } else {
            assertThat(error.get("param").asText()).isEqualTo(param);
            assertThat(error.get("message").asText()).contains(param);
        }
        if (status == 404) {
            assertThat(error.get("code").asText()).isEqualTo("model_not_found");
        }
    }

    @Test
    void invalidUtf8IsRefused() {
        byte[] body = "{\"prompt\":\"ab\"}".getBytes(StandardCharsets.UTF_8);
        body[11] = (byte) 0xff;
        Http.Reply r = Http.postBytes(port, "/v1/completions", body, "content-type", "application/json");
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.error().get("message").asText()).contains("UTF-8");
    }

    @Test
    void wrongOrMissingContentTypeIs415() {
        byte[] body = "{\"prompt\":\"a\"}".getBytes(StandardCharsets.UTF_8);
        for (String[] headers : List.of(new String[]{"content-type", "text/plain"},
                new String[]{"content-type", "application/json; charset=latin1"}, new String[0])) {
            Http.Reply r = Http.postBytes(port, "/v1/completions", body, headers);
            assertThat(r.status()).isEqualTo(415);
            assertThat(r.error().get("code").asText()).isEqualTo("unsupported_media_type");
        }
        assertThat(Http.postBytes(port, "/v1/completions", "{\"prompt\":[1],\"max_tokens\":1}".getBytes(StandardCharsets.UTF_8),
                "content-type", "Application/JSON; charset=UTF-8").status()).isEqualTo(200);
    }

    @Test
    void unknownEndpointsAndMethods() {
        Http.Reply r = post("/v1/embeddings", "{}");
        assertThat(r.status()).isEqualTo(404);
        assertThat(r.error().get("code").asText()).isEqualTo("unknown_url");
        Http.Reply wrong = Http.get(port, "/v1/chat/completions");
        assertThat(wrong.status()).isEqualTo(405);
        assertThat(wrong.header("allow")).isEqualTo("POST");
    }

    @Test
    void clientDisconnectMidStreamFreesTheKvBlocks() throws Exception {
        String body = "{\"prompt\":[1],\"max_tokens\":500,\"ignore_eos\":true,\"temperature\":0.8,\"seed\":3,\"stream\":true}";
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            out.flush();
            InputStream in = socket.getInputStream();
            StringBuilder seen = new StringBuilder();
            byte[] buf = new byte[4096];
            while (!seen.toString().contains("data: {")) {
                int n = in.read(buf);
                assertThat(n).as("stream ended early: " + seen).isPositive();
                seen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            }
            assertThat(seen.toString()).startsWith("HTTP/1.1 200").contains("text/event-stream");
            assertThat(server.dispatcher().liveRequests()).isEqualTo(1);
            assertThat(server.engine().stats().kvBlocksUsed()).isPositive();
        }
        ServerAssertions.awaitIdle(server);
        assertThat(Http.get(port, "/health").status()).isEqualTo(200);
        assertThat(post("/v1/completions", "{\"prompt\":[1],\"max_tokens\":3}").status()).isEqualTo(200);
    }

    /** The official OpenAI Java library, unchanged, pointed at this server. */
    static OpenAIClient officialClient() {
        return OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + port + "/v1")
                .apiKey("not-needed")
                .maxRetries(0)
                .timeout(Duration.ofSeconds(60))
                .build();
    }

    @Test
    void officialClientCompletion() {
        OpenAIClient client = officialClient();
        Completion c = client.completions().create(CompletionCreateParams.builder()
                .model("stories260K").prompt("Once upon a time").maxTokens(12).temperature(0.0).stop("Lily").build());
        assertThat(c.choices()).hasSize(1);
        assertThat(c.choices().get(0).text()).isEqualTo(", there was a little girl named ");
        assertThat(c.choices().get(0).finishReason().asString()).isEqualTo("stop");
        assertThat(c.usage().orElseThrow().promptTokens()).isEqualTo(5);
    }

    @Test
    void officialClientStreamingChatCompletion() {
        OpenAIClient client = officialClient();
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder()
                .model("stories260K").addSystemMessage("Tell a story.").addUserMessage("Once upon a time")
                .maxCompletionTokens(10).temperature(0.0)
                .build();
        ChatCompletion whole = client.chat().completions().create(params);
        StringBuilder streamed = new StringBuilder();
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params.toBuilder()
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            stream.stream().forEach(chunk -> {
                chunks.add(chunk);
                chunk.choices().forEach(choice -> choice.delta().content().ifPresent(streamed::append));
            });
        }
        assertThat(streamed.toString()).isEqualTo(whole.choices().get(0).message().content().orElseThrow());
        assertThat(chunks.get(0).choices().get(0).delta().role().orElseThrow().asString()).isEqualTo("assistant");
        assertThat(chunks.get(chunks.size() - 1).usage().orElseThrow().completionTokens()).isEqualTo(10);
        assertThat(chunks.get(chunks.size() - 2).choices().get(0).finishReason().orElseThrow().asString())
                .isEqualTo("length");
    }

    @Test
    void officialClientModelsAndErrors() {
        OpenAIClient client = officialClient();
        List<Model> models = client.models().list().data();
        assertThat(models).extracting(Model::id).containsExactly("stories260K");
        assertThatThrownBy(() -> client.completions().create(CompletionCreateParams.builder()
                .model("gpt-9").prompt("a").build()))
                .isInstanceOfSatisfying(NotFoundException.class, e -> assertThat(e.code()).contains("model_not_found"));
        assertThatThrownBy(() -> client.completions().create(CompletionCreateParams.builder()
                .model("stories260K").prompt("a").temperature(-1.0).build()))
                .isInstanceOfSatisfying(BadRequestException.class, e -> assertThat(e.param()).contains("temperature"));
    }

    @Test
    void aClientsRequestIdHeaderIsKeptAndABadOneIsA400NamingTheHeader() {
        Http.Reply ok = Http.post(port, "/v1/completions", "{\"prompt\":[1],\"max_tokens\":2}",
                "X-Request-Id", "client.id_1:a-b");
        assertThat(ok.status()).as(ok.body()).isEqualTo(200);
        assertThat(ok.header("x-request-id")).isEqualTo("client.id_1:a-b");
        assertThat(ok.json().get("id").asText()).isEqualTo("client.id_1:a-b");

        for (String[] bad : new String[][]{
                {"bad id!", "character 3 is U+0020"},
                {"x".repeat(129), "at most 128 characters, got 129"}}) {
            for (String path : List.of("/v1/completions", "/v1/chat/completions")) {
                String body = path.contains("chat")
                        ? "{\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}"
                        : "{\"prompt\":[1],\"max_tokens\":2}";
                Http.Reply r = Http.post(port, path, body, "X-Request-Id", bad[0]);
                assertThat(r.status()).as(path + " " + r.body()).isEqualTo(400);
                JsonNode error = r.error();
                assertThat(error.get("type").asText()).isEqualTo("invalid_request_error");
                assertThat(error.get("param").asText()).isEqualTo("X-Request-Id");
                assertThat(error.get("message").asText()).startsWith("X-Request-Id: ").contains(bad[1]);
            }
        }
        assertThat(server.dispatcher().liveRequests()).isZero();
    }
}
