package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A plain JDK HTTP client for the OpenAI-compatible API, and an exact reader of its SSE framing. */
public final class Http {
    public static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    private Http() {
    }

    public record Reply(int status, HttpHeaders headers, byte[] bytes) {
        public String body() {
            return new String(bytes, StandardCharsets.UTF_8);
        }

        public JsonNode json() {
            try {
                return JSON.readTree(bytes);
            } catch (IOException e) {
                throw new AssertionError("not JSON: " + body(), e);
            }
        }

        /** The error object of an OpenAI error body, checked for its exact shape. */
        public JsonNode error() {
            JsonNode body = json();
            assertThat(body.size()).as(body()).isEqualTo(1);
            JsonNode error = body.get("error");
            assertThat(error).as(body()).isNotNull();
            List<String> fields = new ArrayList<>();
            error.fieldNames().forEachRemaining(fields::add);
            assertThat(fields).containsExactlyInAnyOrder("message", "type", "param", "code");
            assertThat(error.get("message").asText()).isNotBlank();
            return error;
        }

        public String header(String name) {
            return headers.firstValue(name).orElse(null);
        }
    }

    public static Reply post(int port, String path, String json, String... headers) {
        return send(port, path, "POST", HttpRequest.BodyPublishers.ofString(json), with("content-type",
                "application/json", headers));
    }

    public static Reply postBytes(int port, String path, byte[] body, String... headers) {
        return send(port, path, "POST", HttpRequest.BodyPublishers.ofByteArray(body), headers);
    }

    public static Reply get(int port, String path, String... headers) {
        return send(port, path, "GET", HttpRequest.BodyPublishers.noBody(), headers);
    }

    private static String[] with(String name, String value, String[] headers) {
        for (int i = 0; i < headers.length; i += 2) {
            if (headers[i].equalsIgnoreCase(name)) {
                return headers;
            }
        }
        String[] out = new String[headers.length + 2];
        out[0] = name;
        out[1] = value;
        System.arraycopy(headers, 0, out, 2, headers.length);
        return out;
    }

    private static Reply send(int port, String path, String method, HttpRequest.BodyPublisher body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(60)).method(method, body);
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        try {
            HttpResponse<byte[]> r = CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
            return new Reply(r.statusCode(), r.headers(), r.body());
        } catch (IOException e) {
            throw new AssertionError(method + " " + path + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /**
     * The events of an SSE body, checked to be exactly {@code data: <one line>\n\n} each and to end
     * with {@code data: [DONE]\n\n}; returns the JSON of every event before [DONE].
     */
    public static List<JsonNode> events(Reply reply) {
        assertThat(reply.status()).as(reply.body()).isEqualTo(200);
        assertThat(reply.header("content-type")).startsWith("text/event-stream");
        String body = reply.body();
        assertThat(body).endsWith("\n\ndata: [DONE]\n\n");
        List<JsonNode> out = new ArrayList<>();
        int at = 0;
        while (at < body.length()) {
            int end = body.indexOf("\n\n", at);
            assertThat(end).as("event at %d is not terminated by a blank line", at).isGreaterThan(at);
            String event = body.substring(at, end);
            assertThat(event).startsWith("data: ").doesNotContain("\n").doesNotContain("\r");
            String data = event.substring("data: ".length());
            at = end + 2;
            if (data.equals("[DONE]")) {
                assertThat(at).as("[DONE] is the last event").isEqualTo(body.length());
                break;
            }
            try {
                out.add(JSON.readTree(data));
            } catch (IOException e) {
                throw new AssertionError("event is not JSON: " + data, e);
            }
        }
        return out;
    }

    public static String fields(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return String.join(",", names);
    }

    /** The generated text of a completion's or chat's chunks (or of one non-streamed body). */
    public static String text(List<JsonNode> chunks) {
        StringBuilder out = new StringBuilder();
        for (JsonNode chunk : chunks) {
            for (JsonNode c : chunk.get("choices")) {
                out.append(c.has("delta") ? c.get("delta").path("content").asText("") : c.get("text").asText());
            }
        }
        return out.toString();
    }
}
