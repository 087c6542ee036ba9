package dev.quire.server.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.openai.Http;
import dev.quire.server.AllInOneServer;
import dev.quire.worker.engine.EngineConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static dev.quire.server.fuzz.Fuzz.chance;
import static dev.quire.server.fuzz.Fuzz.oneOf;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Property-based fuzzing of the OpenAI-compatible HTTP API of a real all-in-one server (the bundled
 * model, with an API key, a {@code --max-tokens-limit} of 8 and a 64 KiB body limit so that every
 * documented refusal is reachable and every generation is short).
 *
 * <p>For every request, well-formed or not: the status is one README documents (200, 400, 401,
 * 404, 413, 415, 429; never a 5xx, never a dropped connection or a timeout), the one the order of
 * checks implies where the request says (a bad key is a 401 whatever the body, then a wrong content
 * type a 415, then a body over the limit a 413); every error has OpenAI's error body; every 200 is a
 * complete completion, or an exact SSE stream ending with {@code [DONE]}; and the server still
 * answers a normal request afterwards.
 */
class OpenAiHttpFuzzTest {
    static final Path MODEL = Path.of("../models/stories260K");
    static final String KEY = "fuzz-key";
    static final int MAX_TOKENS_LIMIT = 8;
    static final int MAX_REQUEST_BYTES = 64 << 10;
    static final Set<Integer> DOCUMENTED = Set.of(200, 400, 401, 404, 413, 415, 429);

    static AllInOneServer server;
    static int port;

    @BeforeAll
    static void start() throws Exception {
        server = AllInOneServer.start(AllInOneServer.Options.local(MODEL,
                        EngineConfig.defaults().withKvCacheBytes(64L << 20))
                .withKeys(ApiKeys.of(List.of(KEY)))
                .withLimits(new AdmissionLimits(4096, 1024, Duration.ofSeconds(60), 0, 0, 0, MAX_TOKENS_LIMIT,
                        MAX_REQUEST_BYTES)));
        port = server.httpPort();
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    /** A header value (null: not sent) and whether the server must accept it. */
    record Header(String value, boolean good) {
    }

    static final Header[] AUTH = {
            new Header("Bearer " + KEY, true), new Header("bearer " + KEY, true), new Header("BEARER   " + KEY + " ", true),
            new Header(null, false), new Header("Bearer wrong-key", false), new Header("Basic Zm9vOmJhcg==", false),
            new Header("Bearer", false), new Header(KEY, false), new Header("Bearer " + KEY + "2", false)};
    static final Header[] CONTENT_TYPE = {
            new Header("application/json", true), new Header("application/json; charset=utf-8", true),
            new Header("Application/JSON;charset=UTF8", true), new Header("application/json; charset=\"utf-8\"", true),
            new Header("application/json; foo=bar", true),
            new Header(null, false), new Header("text/plain", false), new Header("application/x-www-form-urlencoded", false),
            new Header("application/json; charset=latin-1", false), new Header("application/jsonx", false),
            new Header("multipart/form-data; boundary=x", false)};

    /**
     * One request. Its body is {@code fields} as a JSON object, or {@code raw} (mutated bytes) when set.
     *
     * @param mutation how {@code raw} was made from {@code fields}, for the failure message
     */
    record Try(String path, Header auth, Header contentType, LinkedHashMap<String, String> fields, byte[] raw,
               String mutation, boolean chunked) {
        byte[] body() {
            return raw != null ? raw : JsonGen.object(fields).getBytes(StandardCharsets.UTF_8);
        }

        boolean chat() {
            return path.equals("/v1/chat/completions");
        }

        Try with(LinkedHashMap<String, String> f) {
            return new Try(path, auth, contentType, f, raw, mutation, chunked);
        }

        Try withRaw(byte[] r) {
            return new Try(path, auth, contentType, fields, r, mutation, chunked);
        }

        @Override
        public String toString() {
            return "POST " + path + " authorization=" + auth.value + " content-type=" + contentType.value
                    + (chunked ? " transfer-encoding=chunked" : "")
                    + (raw != null ? " mutation=" + mutation + " body=" + Fuzz.quote(raw)
                    : " body=" + Fuzz.quote(JsonGen.object(fields)));
        }
    }

    static Header header(Random r, Header[] options) {
        // Mostly a good header: the body is what is being fuzzed.
        return chance(r, 0.92) ? options[0] : options[r.nextInt(options.length)];
    }

    static Try structured(Random r, boolean chat) {
        return new Try(chat ? "/v1/chat/completions" : "/v1/completions", header(r, AUTH), header(r, CONTENT_TYPE),
                chat ? OpenAiBodies.chat(r) : OpenAiBodies.completions(r), null, null, chance(r, 0.1));
    }

    // -- properties ---------------------------------------------------------------------------

    @Test
    void completionsBodiesGetDocumentedAnswers() {
        Map<String, Integer> outcomes = Fuzz.run("openai-completions", 0x5eed0001L, 500,
                r -> structured(r, false), OpenAiHttpFuzzTest::check, OpenAiHttpFuzzTest::shrink, Try::toString);
        assertUseful(outcomes);
    }

    @Test
    void chatBodiesGetDocumentedAnswers() {
        Map<String, Integer> outcomes = Fuzz.run("openai-chat", 0x5eed0002L, 500,
                r -> structured(r, true), OpenAiHttpFuzzTest::check, OpenAiHttpFuzzTest::shrink, Try::toString);
        assertUseful(outcomes);
    }

    @Test
    void mutatedBytesGetDocumentedAnswers() {
        Fuzz.run("openai-mutated-bytes", 0x5eed0003L, 500, OpenAiHttpFuzzTest::mutated, OpenAiHttpFuzzTest::check,
                OpenAiHttpFuzzTest::shrink, Try::toString);
    }

    /**
     * The generators must reach generation as well as refusals, or the fuzzing proves little (a
     * check of the generators, not of the server: at least 1 try in 20 must run).
     */
    static void assertUseful(Map<String, Integer> outcomes) {
        int total = outcomes.values().stream().mapToInt(Integer::intValue).sum();
        int ok = outcomes.entrySet().stream().filter(e -> e.getKey().startsWith("200")).mapToInt(Map.Entry::getValue).sum();
        assertThat(ok).as("tries answered 200 of %d: %s", total, outcomes).isGreaterThan(total / 20);
        assertThat(outcomes.keySet()).anyMatch(k -> k.startsWith("400"));
    }

    // -- mutated bytes --------------------------------------------------------------------------

    private static final byte[][] BAD_UTF8 = {
            {(byte) 0xff}, {(byte) 0xfe}, {(byte) 0x80}, {(byte) 0xc3, 0x28}, {(byte) 0xc0, (byte) 0x80},
            {(byte) 0xc1, (byte) 0xbf}, {(byte) 0xe0, (byte) 0x80, (byte) 0xaf}, {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
            {(byte) 0xed, (byte) 0xbf, (byte) 0xbf}, {(byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80},
            {(byte) 0xf8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80}, {(byte) 0xe2, (byte) 0x82},
            {(byte) 0xf0, (byte) 0x9f, (byte) 0x98}};
    private static final byte[] PUNCTUATION = "{}[],:\"\\ 0-eE.tfn".getBytes(StandardCharsets.US_ASCII);

    static Try mutated(Random r) {
        Try base = structured(r, r.nextBoolean());
        base = new Try(base.path, chance(r, 0.97) ? AUTH[0] : base.auth, chance(r, 0.97) ? CONTENT_TYPE[0] : base.contentType,
                chance(r, 0.7) ? OpenAiBodies.clean(r, base.chat()) : base.fields, null, null, base.chunked);
        byte[] body = base.body();
        List<String> done = new ArrayList<>();
        for (int n = chance(r, 0.7) ? 1 : 2 + r.nextInt(2); n > 0; n--) {
            int at = body.length == 0 ? 0 : r.nextInt(body.length + 1);
            int kind = r.nextInt(11);
            body = switch (kind) {
                case 0 -> slice(body, 0, at); // truncated
                case 1 -> { // bit flips
                    byte[] b = body.clone();
                    for (int i = 1 + r.nextInt(5); i > 0 && b.length > 0; i--) {
                        b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                    }
                    yield b;
                }
                case 2 -> insert(body, at, BAD_UTF8[r.nextInt(BAD_UTF8.length)]);
                case 3 -> { // a byte replaced by any byte
                    byte[] b = body.clone();
                    if (b.length > 0) {
                        b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                    }
                    yield b;
                }
                case 4 -> { // a range deleted
                    int to = Math.min(body.length, at + 1 + r.nextInt(16));
                    yield concat(slice(body, 0, at), slice(body, to, body.length));
                }
                case 5 -> { // a range repeated
                    int to = Math.min(body.length, at + 1 + r.nextInt(32));
                    yield insert(body, at, slice(body, at, to));
                }
                case 6 -> insert(body, at, new byte[]{PUNCTUATION[r.nextInt(PUNCTUATION.length)]});
                case 7 -> { // random bytes, no JSON at all
                    byte[] b = new byte[r.nextInt(200)];
                    r.nextBytes(b);
                    yield b;
                }
                case 8 -> oneOf(r, new byte[0], " ".getBytes(), "null".getBytes(), "[]".getBytes(), "\"{}\"".getBytes(),
                        "1".getBytes(), "{}".getBytes(), "{\"prompt\":\"a\",\"prompt\":\"b\"}".getBytes());
                case 9 -> concat(body, oneOf(r, "x", " {}", "}", "]", ",", "\u0000", "// comment", "\n\n{}")
                        .getBytes(StandardCharsets.UTF_8)); // trailing content
                default -> concat(oneOf(r, new byte[]{(byte) 0xef, (byte) 0xbb, (byte) 0xbf}, // BOM
                        new byte[]{(byte) 0xfe, (byte) 0xff}, new byte[]{0}, "\t\r\n ".getBytes(), "/*c*/".getBytes()), body);
            };
            done.add(switch (kind) {
                case 0 -> "truncate@" + at;
                case 1 -> "bitflips";
                case 2 -> "bad-utf8@" + at;
                case 3 -> "byte";
                case 4 -> "delete@" + at;
                case 5 -> "repeat@" + at;
                case 6 -> "punctuation@" + at;
                case 7 -> "random";
                case 8 -> "replace";
                case 9 -> "trailing";
                default -> "prefix";
            });
        }
        return new Try(base.path, base.auth, base.contentType, base.fields, body, String.join(",", done), base.chunked);
    }

    static byte[] slice(byte[] b, int from, int to) {
        return java.util.Arrays.copyOfRange(b, from, to);
    }

    static byte[] concat(byte[] a, byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(a.length + b.length);
        out.writeBytes(a);
        out.writeBytes(b);
        return out.toByteArray();
    }

    static byte[] insert(byte[] body, int at, byte[] what) {
        return concat(concat(slice(body, 0, at), what), slice(body, at, body.length));
    }

    // -- shrinking ------------------------------------------------------------------------------

    static List<Try> shrink(Try t) {
        List<Try> out = new ArrayList<>();
        if (!t.auth.equals(AUTH[0]) || !t.contentType.equals(CONTENT_TYPE[0])) {
            out.add(new Try(t.path, AUTH[0], CONTENT_TYPE[0], t.fields, t.raw, t.mutation, t.chunked));
        }
        if (t.chunked) {
            out.add(new Try(t.path, t.auth, t.contentType, t.fields, t.raw, t.mutation, false));
        }
        if (t.raw != null) {
            // Drop chunks, largest first.
            for (int size = t.raw.length / 2; size >= 1 && out.size() < 48; size /= 2) {
                for (int at = 0; at + size <= t.raw.length && out.size() < 48; at += size) {
                    out.add(t.withRaw(concat(slice(t.raw, 0, at), slice(t.raw, at + size, t.raw.length))));
                }
            }
            return out;
        }
        for (String name : t.fields.keySet()) {
            LinkedHashMap<String, String> fewer = new LinkedHashMap<>(t.fields);
            fewer.remove(name);
            out.add(t.with(fewer));
        }
        return out;
    }

    // -- the property ---------------------------------------------------------------------------

    static String check(Try t) {
        byte[] body = t.body();
        List<String> headers = new ArrayList<>();
        if (t.auth.value != null) {
            headers.addAll(List.of("authorization", t.auth.value));
        }
        if (t.contentType.value != null) {
            headers.addAll(List.of("content-type", t.contentType.value));
        }
        Http.Reply reply = send(t.path, body, t.chunked, headers);
        int status = reply.status();
        String outcome = Integer.toString(status);
        assertThat(DOCUMENTED).as("status %d, a documented one; body %s", status, reply.body()).contains(status);
        if (!t.auth.good) {
            assertThat(status).as(reply.body()).isEqualTo(401);
        } else if (!t.contentType.good) {
            assertThat(status).as(reply.body()).isEqualTo(415);
        } else if (body.length > MAX_REQUEST_BYTES) {
            assertThat(status).as(reply.body()).isEqualTo(413);
        } else {
            assertThat(status).as(reply.body()).isNotIn(401, 413, 415);
        }
        if (status != 200) {
            checkError(reply);
            if (status == 400) { // which check refused it, for the summary
                JsonNode error = reply.error();
                String param = error.get("param").isNull() ? "-" : error.get("param").asText().replaceAll("\\[\\d+]", "[]");
                outcome += " " + (error.get("message").asText().startsWith("Unrecognized request argument")
                        ? "unknown-field" : param.matches("[-a-z_.\\[\\]]{1,40}") ? param : "other");
            }
        } else if (reply.header("content-type").startsWith("text/event-stream")) {
            checkStream(t, reply);
            outcome += "-sse";
        } else {
            checkCompletion(t, reply);
        }
        checkAlive();
        return outcome;
    }

    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    /**
     * Sends a body with a Content-Length, or chunked; a dropped connection, or no answer within a
     * minute, fails the property.
     */
    static Http.Reply send(String path, byte[] body, boolean chunked, List<String> headers) {
        HttpRequest.BodyPublisher publisher = chunked
                ? HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofByteArray(body))
                : HttpRequest.BodyPublishers.ofByteArray(body);
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(60)).POST(publisher);
        for (int i = 0; i < headers.size(); i += 2) {
            b.header(headers.get(i), headers.get(i + 1));
        }
        try {
            HttpResponse<byte[]> r = CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
            return new Http.Reply(r.statusCode(), r.headers(), r.body());
        } catch (IOException e) {
            throw new AssertionError("POST " + path + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static void checkError(Http.Reply reply) {
        assertThat(reply.header("content-type")).as(reply.body()).isEqualTo("application/json");
        JsonNode error = reply.error(); // exactly {"error": {message, type, param, code}}
        assertThat(error.get("message").isTextual()).as(reply.body()).isTrue();
        assertThat(error.get("type").isTextual()).as(reply.body()).isTrue();
        assertThat(error.get("param").isNull() || error.get("param").isTextual()).as(reply.body()).isTrue();
        assertThat(error.get("code").isNull() || error.get("code").isTextual()).as(reply.body()).isTrue();
        String type = error.get("type").asText();
        String code = error.get("code").asText(null);
        switch (reply.status()) {
            case 400 -> assertThat(type).as(reply.body()).isEqualTo("invalid_request_error");
            case 401 -> {
                assertThat(type).isEqualTo("authentication_error");
                assertThat(reply.header("www-authenticate")).isEqualTo("Bearer");
            }
            case 404 -> {
                assertThat(code).as(reply.body()).isEqualTo("model_not_found");
                assertThat(error.get("param").asText()).isEqualTo("model");
            }
            case 413 -> assertThat(code).as(reply.body()).isEqualTo("request_too_large");
            case 415 -> assertThat(code).as(reply.body()).isEqualTo("unsupported_media_type");
            case 429 -> assertThat(reply.header("retry-after")).as(reply.body()).isNotNull();
            default -> throw new AssertionError("unexpected status " + reply.status() + ": " + reply.body());
        }
    }

    static void checkCompletion(Try t, Http.Reply reply) {
        assertThat(reply.header("content-type")).as(reply.body()).isEqualTo("application/json");
        JsonNode body = reply.json();
        assertThat(Http.fields(body)).as(reply.body()).isEqualTo("id,object,created,model,choices,usage");
        assertThat(body.get("id").asText()).startsWith(t.chat() ? "chatcmpl-" : "cmpl-");
        assertThat(body.get("object").asText()).isEqualTo(t.chat() ? "chat.completion" : "text_completion");
        assertThat(body.get("model").asText()).isEqualTo("stories260K");
        assertThat(body.get("created").isIntegralNumber()).isTrue();
        JsonNode choices = body.get("choices");
        assertThat(choices.isArray() && !choices.isEmpty()).as(reply.body()).isTrue();
        for (int i = 0; i < choices.size(); i++) {
            JsonNode c = choices.get(i);
            assertThat(c.get("index").asInt(-1)).isEqualTo(i);
            assertThat(c.get("finish_reason").asText()).as(reply.body()).isIn("stop", "length");
            if (t.chat()) {
                assertThat(c.get("message").get("role").asText()).isEqualTo("assistant");
                assertThat(c.get("message").get("content").isTextual()).isTrue();
            } else {
                assertThat(c.get("text").isTextual()).as(reply.body()).isTrue();
            }
            checkLogprobs(c.get("logprobs"), reply);
        }
        checkUsage(body.get("usage"), choices.size(), reply);
    }

    static void checkStream(Try t, Http.Reply reply) {
        List<JsonNode> chunks = Http.events(reply); // exact framing, ends with [DONE]
        assertThat(chunks).as(reply.body()).isNotEmpty();
        String id = chunks.get(0).path("id").asText();
        assertThat(id).as(reply.body()).startsWith(t.chat() ? "chatcmpl-" : "cmpl-");
        Map<Integer, Integer> finishes = new HashMap<>();
        Set<Integer> seen = new java.util.HashSet<>();
        int usages = 0;
        for (JsonNode chunk : chunks) {
            assertThat(chunk.has("error")).as("an error after the stream began: %s", reply.body()).isFalse();
            assertThat(chunk.get("id").asText()).isEqualTo(id);
            assertThat(chunk.get("object").asText()).isEqualTo(t.chat() ? "chat.completion.chunk" : "text_completion");
            assertThat(chunk.get("model").asText()).isEqualTo("stories260K");
            JsonNode choices = chunk.get("choices");
            assertThat(choices.isArray()).as(reply.body()).isTrue();
            if (choices.isEmpty()) { // the usage chunk, last
                usages++;
                assertThat(chunk).isSameAs(chunks.get(chunks.size() - 1));
                checkUsage(chunk.get("usage"), finishes.size(), reply);
                continue;
            }
            for (JsonNode c : choices) {
                int index = c.get("index").asInt(-1);
                assertThat(index).isNotNegative();
                seen.add(index);
                assertThat(finishes.get(index)).as("a chunk of choice %d after its finish: %s", index, reply.body())
                        .isNull();
                if (t.chat()) {
                    assertThat(c.get("delta").isObject()).as(reply.body()).isTrue();
                } else {
                    assertThat(c.get("text").isTextual()).as(reply.body()).isTrue();
                }
                checkLogprobs(c.get("logprobs"), reply);
                JsonNode finish = c.get("finish_reason");
                if (!finish.isNull()) {
                    assertThat(finish.asText()).as(reply.body()).isIn("stop", "length");
                    finishes.put(index, 1);
                }
            }
        }
        assertThat(usages).isLessThanOrEqualTo(1);
        assertThat(finishes.keySet()).as("every choice finished: %s", reply.body()).isNotEmpty().isEqualTo(seen);
        for (int i = 0; i < finishes.size(); i++) {
            assertThat(finishes).as(reply.body()).containsKey(i);
        }
    }

    static void checkUsage(JsonNode usage, int choices, Http.Reply reply) {
        assertThat(Http.fields(usage)).as(reply.body()).isEqualTo("prompt_tokens,completion_tokens,total_tokens");
        long prompt = usage.get("prompt_tokens").asLong(-1);
        long completion = usage.get("completion_tokens").asLong(-1);
        assertThat(prompt).as(reply.body()).isPositive();
        assertThat(completion).as(reply.body()).isBetween(0L, (long) choices * MAX_TOKENS_LIMIT);
        assertThat(usage.get("total_tokens").asLong()).isEqualTo(prompt + completion);
    }

    /** Log-probabilities, where present, are numbers: JSON has no infinity and clients want no strings. */
    static void checkLogprobs(JsonNode logprobs, Http.Reply reply) {
        assertThat(logprobs).as(reply.body()).isNotNull();
        if (logprobs.isNull()) {
            return;
        }
        List<JsonNode> numbers = new ArrayList<>(logprobs.findValues("logprob"));
        logprobs.path("token_logprobs").forEach(numbers::add);
        logprobs.path("top_logprobs").forEach(alternatives -> alternatives.forEach(numbers::add));
        for (JsonNode n : numbers) {
            assertThat(n.isNumber()).as("a logprob that is not a number: %s", reply.body()).isTrue();
        }
    }

    /** The server still generates for an ordinary request. */
    static void checkAlive() {
        Http.Reply r = Http.post(port, "/v1/completions", "{\"prompt\":[1],\"max_tokens\":1,\"temperature\":0}",
                "authorization", "Bearer " + KEY);
        assertThat(r.status()).as("an ordinary request after the try: %s", r.body()).isEqualTo(200);
        assertThat(r.json().get("choices").get(0).get("finish_reason").asText()).isEqualTo("length");
    }
}
