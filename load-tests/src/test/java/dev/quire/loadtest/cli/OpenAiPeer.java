package dev.quire.loadtest.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A test peer for the HTTP driver: a real Vert.x HTTP server that speaks the OpenAI streaming format
 * ({@code /v1/models}, {@code /v1/completions}, {@code /v1/chat/completions} with SSE chunks, a usage chunk
 * and {@code data: [DONE]}), writing each event in two pieces split mid-line so the client sees chunk
 * boundaries inside events. It is not Quire's HTTP API; it stands in for any OpenAI-compatible server.
 */
final class OpenAiPeer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    final List<JsonNode> bodies = new CopyOnWriteArrayList<>();
    final List<String> authorizations = new CopyOnWriteArrayList<>();
    private final Vertx vertx = Vertx.vertx();
    private final HttpServer server;
    /** Answer every generation with this HTTP status instead of a stream (0: stream normally). */
    volatile int failWith;

    OpenAiPeer() throws Exception {
        server = vertx.createHttpServer().requestHandler(this::handle).listen(0, "127.0.0.1")
                .await(10, TimeUnit.SECONDS);
    }

    int port() {
        return server.actualPort();
    }

    private void handle(HttpServerRequest req) {
        authorizations.add(String.valueOf(req.getHeader("authorization")));
        if (req.path().equals("/v1/models")) {
            req.response().putHeader("content-type", "application/json")
                    .end("{\"object\":\"list\",\"data\":[{\"id\":\"peer-model\",\"object\":\"model\",\"max_model_len\":2048}]}");
            return;
        }
        boolean chat = req.path().equals("/v1/chat/completions");
        if (!chat && !req.path().equals("/v1/completions")) {
            req.response().setStatusCode(404).end();
            return;
        }
        req.body().onSuccess(buf -> {
            JsonNode body;
            try {
                body = JSON.readTree(buf.getBytes());
            } catch (Exception e) {
                req.response().setStatusCode(400).end();
                return;
            }
            bodies.add(body);
            if (failWith != 0) {
                req.response().setStatusCode(failWith).putHeader("content-type", "application/json")
                        .end("{\"error\":{\"message\":\"peer refuses\",\"type\":\"invalid_request_error\"}}");
                return;
            }
            int n = body.path("max_tokens").asInt(16);
            JsonNode prompt = chat ? body.path("messages").path(0).path("content") : body.path("prompt");
            int promptTokens = prompt.isArray() ? prompt.size() : prompt.asText().split(" ").length;
            if (!body.path("stream").asBoolean(false)) {
                req.response().putHeader("content-type", "application/json").end(whole(chat, n, promptTokens));
                return;
            }
            HttpServerResponse res = req.response().setChunked(true).putHeader("content-type", "text/event-stream");
            if (chat) {
                // OpenAI starts a chat stream with a role-only chunk: no token, so no timing.
                write(res, "{\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                        + "\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}");
            }
            stream(res, chat, n, promptTokens, 1, body.path("stream_options").path("include_usage").asBoolean());
        });
    }

    private void stream(HttpServerResponse res, boolean chat, int n, int promptTokens, int i, boolean usage) {
        vertx.setTimer(2, id -> {
            String text = i == 1 ? "Once" : " tok" + i + "\u00e9";
            String finish = i == n ? "\"length\"" : "null";
            write(res, chat
                    ? "{\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                    + JSON.valueToTree(text) + "},\"finish_reason\":" + finish + "}]}"
                    : "{\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":" + JSON.valueToTree(text)
                    + ",\"logprobs\":null,\"finish_reason\":" + finish + "}]}");
            if (i < n) {
                stream(res, chat, n, promptTokens, i + 1, usage);
                return;
            }
            if (usage) {
                write(res, "{\"choices\":[],\"usage\":{\"prompt_tokens\":" + promptTokens + ",\"completion_tokens\":"
                        + n + ",\"total_tokens\":" + (promptTokens + n) + "}}");
            }
            write(res, "[DONE]");
            res.end();
        });
    }

    /** One SSE event, written in two pieces cut inside the line. */
    private static void write(HttpServerResponse res, String data) {
        byte[] event = ("data: " + data + "\n\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int cut = Math.min(event.length - 1, 9);
        res.write(Buffer.buffer().appendBytes(event, 0, cut));
        res.write(Buffer.buffer().appendBytes(event, cut, event.length - cut));
    }

    private static String whole(boolean chat, int n, int promptTokens) {
        String text = JSON.valueToTree("x ".repeat(n)).toString();
        String choice = chat ? "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" + text
                + "},\"finish_reason\":\"length\"}" : "{\"index\":0,\"text\":" + text + ",\"finish_reason\":\"length\"}";
        return "{\"choices\":[" + choice + "],\"usage\":{\"prompt_tokens\":" + promptTokens + ",\"completion_tokens\":"
                + n + ",\"total_tokens\":" + (promptTokens + n) + "}}";
    }

    @Override
    public void close() throws Exception {
        server.close().await(5, TimeUnit.SECONDS);
        vertx.close().await(5, TimeUnit.SECONDS);
    }
}
