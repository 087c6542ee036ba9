package dev.quire.loadtest.driver;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.loadtest.workload.Dataset;
import dev.quire.loadtest.workload.Prompt;
import dev.quire.loadtest.workload.RequestSpec;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpClosedException;
import io.vertx.core.http.HttpConnectOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;

import javax.net.ssl.SSLException;
import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * Drives an OpenAI-compatible server ({@code /v1/completions} or {@code /v1/chat/completions}) over HTTP/1.1,
 * streaming with server-sent events.
 *
 * <p>The body follows the OpenAI API: {@code model}, {@code prompt} (a list of token ids when the workload
 * has them, which completions endpoints accept) or {@code messages}, {@code max_tokens}, {@code temperature},
 * {@code seed}, {@code stream} with {@code stream_options.include_usage} so the last chunk reports token
 * counts, and the common extension {@code ignore_eos} (vLLM, llama.cpp, Quire) when asked for.
 *
 * <p>Timing follows vLLM's benchmark: a chunk whose text (or {@code delta.content}) is non-empty counts as one
 * token-carrying chunk; the first one sets TTFT and each later one adds an inter-token gap. Role-only and
 * usage-only chunks carry no token and are not timed. Output token counts come from the usage chunk.
 *
 * <p>Connections come from a {@link KeepAlivePool}, which honours the server's {@code Connection} and
 * {@code Keep-Alive} headers so that no request is written on a connection the server may have closed; a
 * request that still meets a reused connection closing under it, before any response, is sent again once on a
 * new connection (counted in {@link RequestResult#retries()}).
 */
public final class OpenAiDriver implements Driver {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClientAgent http;
    private final KeepAlivePool pool;
    private final Target target;
    private final RequestOptions options;
    private final String authorization;
    private final boolean chat;

    /** @param maxConnections HTTP/1.1 carries one stream per connection, so this bounds concurrent streams */
    public OpenAiDriver(Vertx vertx, Target target, RequestOptions options, int maxConnections) {
        HttpClientOptions http = new HttpClientOptions()
                .setDefaultHost(target.host())
                .setDefaultPort(target.port())
                .setSsl(target.ssl())
                .setKeepAlive(true)
                .setConnectTimeout(10_000)
                .setTcpNoDelay(true);
        // The agent's own pool carries only the probe; requests go over KeepAlivePool's connections.
        this.http = vertx.httpClientBuilder().with(http).with(new PoolOptions().setHttp1MaxSize(1)).build();
        this.pool = new KeepAlivePool(this.http, new HttpConnectOptions().setHost(target.host())
                .setPort(target.port()).setSsl(target.ssl()).setConnectTimeout(10_000), maxConnections);
        this.target = target;
        this.options = options;
        this.authorization = options.authorization();
        this.chat = target.backend() == Backend.OPENAI_CHAT;
    }

    @Override
    public Future<ServerInfo> probe() {
        io.vertx.core.http.RequestOptions get = new io.vertx.core.http.RequestOptions()
                .setMethod(HttpMethod.GET).setURI(target.basePath() + "/v1/models");
        if (authorization != null) {
            get.putHeader("authorization", authorization);
        }
        return http.request(get)
                .compose(HttpClientRequest::send)
                .compose(response -> response.body().map(body -> new Object[]{response.statusCode(), body}))
                .timeout(15, TimeUnit.SECONDS)
                .transform(ar -> {
                    if (ar.failed()) {
                        return Future.failedFuture(new IllegalStateException("cannot reach " + target.url() + ": "
                                + Errors.message(ar.cause())));
                    }
                    int status = (int) ar.result()[0];
                    Buffer body = (Buffer) ar.result()[1];
                    return models(status, body);
                });
    }

    private Future<ServerInfo> models(int status, Buffer body) {
        if (status == 401 || status == 403) {
            return Future.failedFuture(new IllegalStateException(target.url() + " refused the request (HTTP " + status
                    + "): check --api-key"));
        }
        JsonNode list = null;
        if (status == 200) {
            try {
                list = JSON.readTree(body.getBytes()).path("data");
            } catch (java.io.IOException e) {
                list = null;
            }
        }
        if (list == null || !list.isArray() || list.isEmpty()) {
            // Some servers have no /v1/models; then the user must name the model.
            if (options.model().isEmpty()) {
                return Future.failedFuture(new IllegalStateException(target.basePath() + "/v1/models on "
                        + target.host() + ":" + target.port() + " answered HTTP " + status
                        + " without a model list; name the model with --model"));
            }
            return Future.succeededFuture(new ServerInfo(options.model(), 0, 0));
        }
        JsonNode chosen = list.get(0);
        if (!options.model().isEmpty()) {
            chosen = null;
            for (JsonNode m : list) {
                if (options.model().equals(m.path("id").asText())) {
                    chosen = m;
                }
            }
            if (chosen == null) {
                // Trust the user: servers often accept names they do not list (aliases).
                return Future.succeededFuture(new ServerInfo(options.model(), 0, 0));
            }
        }
        return Future.succeededFuture(new ServerInfo(chosen.path("id").asText(), 0, chosen.path("max_model_len").asInt(0)));
    }

    @Override
    public void send(RequestSpec spec, long seed, RequestRecorder recorder) {
        Buffer body = Buffer.buffer(body(spec, seed));
        io.vertx.core.http.RequestOptions post = new io.vertx.core.http.RequestOptions()
                .setMethod(HttpMethod.POST)
                .setURI(target.generatePath())
                .putHeader("content-type", "application/json")
                .putHeader("accept", options.stream() ? "text/event-stream" : "application/json");
        if (authorization != null) {
            post.putHeader("authorization", authorization);
        }
        attempt(post, body, recorder, false);
    }

    /**
     * Sends a request once. When the connection it was written on had carried earlier requests and closes
     * before any of the response arrives, the server closed it as the request crossed (an idle or request-count
     * limit): the request is sent once more, on a new connection. A request on a new connection, a retry, or
     * one whose response had begun is never sent again: the server may have started it.
     */
    private void attempt(io.vertx.core.http.RequestOptions post, Buffer body, RequestRecorder recorder,
                         boolean retry) {
        pool.acquire(retry).onComplete(leased -> {
            if (leased.failed()) {
                recorder.fail(System.nanoTime(), Errors.kind(leased.cause()), Errors.message(leased.cause()));
                return;
            }
            KeepAlivePool.Lease lease = leased.result();
            KeepAlivePool.Connection conn = lease.connection();
            if (recorder.isDone()) {
                pool.release(conn, null); // timed out while waiting for a connection; nothing was written
                return;
            }
            conn.http.request(post).onComplete(created -> {
                if (created.failed()) {
                    pool.discard(conn);
                    // Nothing was written, so sending it on a new connection is safe.
                    if (!retry && !recorder.isDone() && connectionLost(created.cause())) {
                        recorder.retried();
                        attempt(post, body, recorder, true);
                    } else {
                        recorder.fail(System.nanoTime(), Errors.kind(created.cause()), Errors.message(created.cause()));
                    }
                    return;
                }
                HttpClientRequest request = created.result();
                recorder.onCancel(() -> {
                    request.reset();
                    pool.discard(conn);
                });
                request.send(body).onComplete(answered -> {
                    if (answered.failed()) {
                        pool.discard(conn);
                        if (!retry && lease.reused() && !recorder.isDone() && connectionLost(answered.cause())) {
                            recorder.retried();
                            attempt(post, body, recorder, true);
                        } else {
                            recorder.fail(System.nanoTime(), Errors.kind(answered.cause()),
                                    Errors.message(answered.cause()));
                        }
                        return;
                    }
                    answer(answered.result(), conn, recorder);
                });
            });
        });
    }

    /**
     * Whether a request failed because its connection closed or was reset before a response began: the
     * closing of a reused connection by the server, as opposed to a malformed or partial response head, a
     * TLS failure or a timeout.
     */
    static boolean connectionLost(Throwable error) {
        Throwable t = Errors.unwrap(error);
        if (t instanceof SSLException) {
            return false;
        }
        return t instanceof HttpClosedException || t instanceof IOException
                || Errors.kind(t).equals("connection_closed");
    }

    private void answer(HttpClientResponse response, KeepAlivePool.Connection conn, RequestRecorder recorder) {
        if (response.statusCode() != 200) {
            int status = response.statusCode();
            response.body().onComplete(b -> {
                recorder.fail(System.nanoTime(), "http_" + status,
                        b.succeeded() ? errorMessage(b.result()) : response.statusMessage());
                if (b.succeeded()) {
                    pool.release(conn, response);
                } else {
                    pool.discard(conn);
                }
            });
        } else if (options.stream()) {
            stream(response, conn, recorder);
        } else {
            response.body().onComplete(b -> {
                if (b.failed()) {
                    recorder.fail(System.nanoTime(), Errors.kind(b.cause()), Errors.message(b.cause()));
                    pool.discard(conn);
                } else {
                    whole(b.result(), recorder);
                    pool.release(conn, response);
                }
            });
        }
    }

    private void stream(HttpClientResponse response, KeepAlivePool.Connection conn, RequestRecorder recorder) {
        SseParser parser = new SseParser(data -> event(data, recorder));
        response.handler(parser::feed);
        response.exceptionHandler(t -> {
            recorder.fail(System.nanoTime(), Errors.kind(t), Errors.message(t));
            pool.discard(conn);
        });
        response.endHandler(v -> {
            parser.finish();
            recorder.end(System.nanoTime());
            pool.release(conn, response);
        });
    }

    /** One SSE event of a streamed completion. */
    void event(String data, RequestRecorder recorder) {
        long now = System.nanoTime();
        if (data.equals("[DONE]")) {
            return;
        }
        JsonNode chunk;
        try {
            chunk = JSON.readTree(data);
        } catch (JsonProcessingException e) {
            recorder.fail(now, "invalid_response", "unparseable stream chunk: " + abbreviate(data));
            return;
        }
        if (chunk.has("error")) {
            recorder.fail(now, "stream_error", errorText(chunk.get("error")));
            return;
        }
        JsonNode usage = chunk.get("usage");
        int cumulative = -1;
        if (usage != null && usage.isObject()) {
            recorder.usage(usage.path("prompt_tokens").asInt(-1), usage.path("completion_tokens").asInt(-1));
            cumulative = usage.path("completion_tokens").asInt(-1);
        }
        JsonNode choices = chunk.path("choices");
        if (choices.isArray() && !choices.isEmpty()) {
            JsonNode choice = choices.get(0);
            String text = chat ? choice.path("delta").path("content").asText("") : choice.path("text").asText("");
            if (!text.isEmpty() || cumulative >= 0) {
                recorder.chunk(now, text.isEmpty() ? 0 : 1, cumulative);
            }
            JsonNode finish = choice.get("finish_reason");
            if (finish != null && finish.isTextual()) {
                recorder.finishReason(finish.asText());
            }
        }
    }

    /** A whole (non-streamed) completion. */
    private void whole(Buffer body, RequestRecorder recorder) {
        long now = System.nanoTime();
        JsonNode answer;
        try {
            answer = JSON.readTree(body.getBytes());
        } catch (java.io.IOException e) {
            recorder.fail(now, "invalid_response", "unparseable response: " + abbreviate(body.toString()));
            return;
        }
        JsonNode choice = answer.path("choices").path(0);
        String text = chat ? choice.path("message").path("content").asText("") : choice.path("text").asText("");
        if (!text.isEmpty()) {
            recorder.chunk(now, Dataset.estimateTokens(text), -1); // only counts when the server gives no usage
        }
        JsonNode usage = answer.get("usage");
        if (usage != null && usage.isObject()) {
            recorder.usage(usage.path("prompt_tokens").asInt(-1), usage.path("completion_tokens").asInt(-1));
        }
        if (choice.path("finish_reason").isTextual()) {
            recorder.finishReason(choice.path("finish_reason").asText());
        }
        recorder.end(now);
    }

    String body(RequestSpec spec, long seed) {
        return body(options, chat, spec, seed).toString();
    }

    /**
     * The request body for one request, with {@link RequestOptions#extraBody()} merged in.
     *
     * @throws IllegalArgumentException when the extra body would replace a field the harness sets
     */
    static ObjectNode body(RequestOptions options, boolean chat, RequestSpec spec, long seed) {
        ObjectNode b = JSON.createObjectNode();
        b.put("model", options.model());
        Prompt prompt = spec.prompt();
        if (chat) {
            String text = prompt.isTokens() ? null : prompt.text();
            if (text == null) {
                throw new IllegalArgumentException("chat endpoints take text prompts, not token ids");
            }
            ArrayNode messages = b.putArray("messages");
            messages.addObject().put("role", "user").put("content", text);
        } else if (prompt.isTokens()) {
            ArrayNode ids = b.putArray("prompt");
            for (int id : prompt.tokenIds()) {
                ids.add(id);
            }
        } else {
            b.put("prompt", prompt.text());
        }
        b.put("max_tokens", spec.outputLen());
        b.put("temperature", options.temperature());
        b.put("seed", seed);
        if (options.ignoreEos()) {
            b.put("ignore_eos", true);
        }
        b.put("stream", options.stream());
        if (options.stream()) {
            b.putObject("stream_options").put("include_usage", true);
        }
        if (options.extraBody() != null) {
            ExtraBody.merge(b, options.extraBody());
        }
        return b;
    }

    /**
     * Checks before anything is sent that {@code options}' extra body merges into this driver's requests.
     *
     * @throws IllegalArgumentException naming the field it would replace
     */
    public static void checkExtraBody(RequestOptions options, boolean chat) {
        if (options.extraBody() != null) {
            body(options, chat, new RequestSpec(Prompt.ofText("check"), 1, 1), 0);
        }
    }

    private static String errorMessage(Buffer body) {
        try {
            JsonNode node = JSON.readTree(body.getBytes());
            if (node.has("error")) {
                return errorText(node.get("error"));
            }
        } catch (java.io.IOException ignored) {
            // not JSON: fall through to the raw text
        }
        return abbreviate(body.toString());
    }

    private static String errorText(JsonNode error) {
        return error.isObject() ? error.path("message").asText(error.toString()) : error.asText();
    }

    private static String abbreviate(String s) {
        String one = s.replace('\n', ' ').strip();
        return one.length() > 200 ? one.substring(0, 200) + "..." : one;
    }

    @Override
    public Future<Void> close() {
        return pool.close().transform(v -> http.close());
    }
}
