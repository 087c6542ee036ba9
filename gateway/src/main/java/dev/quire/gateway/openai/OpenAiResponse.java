package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.TokenLogprobs;
import io.vertx.core.Context;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One HTTP request's generations (a choice per prompt) and its response: Server-Sent Events in
 * OpenAI's chunk format, or one JSON body once every choice finished.
 *
 * <p>Engine callbacks arrive on the engine thread and hop to the request's Vert.x context, like
 * the gRPC relay; every field here is touched only on that context. Output is buffered per
 * choice and written when the connection can take it: while the client reads slowly the deltas
 * coalesce into fewer, larger chunks instead of piling up in the write queue, and the engine
 * never waits for a client.
 */
final class OpenAiResponse {
    /** Which endpoint this response speaks for. */
    enum Api {
        COMPLETIONS("text_completion", "text_completion"),
        CHAT("chat.completion", "chat.completion.chunk");

        final String object;
        final String chunkObject;

        Api(String object, String chunkObject) {
            this.object = object;
            this.chunkObject = chunkObject;
        }
    }

    private static final Buffer DONE = Buffer.buffer("data: [DONE]\n\n");

    private final Api api;
    private final Context context;
    private final HttpServerResponse response;
    private final String id;
    private final long created = System.currentTimeMillis() / 1000;
    private final boolean stream;
    private final boolean includeUsage;
    /** Alternatives per token to render, or -1 when the request asked for no logprobs. */
    private final int logprobs;
    private final TokenPieces pieces;
    private final Choice[] choices;
    private final List<RequestHandle> handles = new ArrayList<>();
    private String model;
    private boolean started;
    /** The response is over: sent, failed, or the client left. */
    private boolean closed;
    private GatewayException failure;

    OpenAiResponse(Api api, Context context, HttpServerResponse response, String id, int choiceCount, boolean stream,
                   boolean includeUsage, int logprobs, TokenPieces pieces) {
        this.api = api;
        this.context = context;
        this.response = response;
        this.id = id;
        this.stream = stream;
        this.includeUsage = includeUsage;
        this.logprobs = logprobs;
        this.pieces = pieces;
        this.choices = new Choice[choiceCount];
        for (int i = 0; i < choiceCount; i++) {
            choices[i] = new Choice(i);
        }
    }

    /** The engine listener of choice {@code index}. */
    GenerationListener listener(int index) {
        return choices[index];
    }

    /** Every choice was admitted: the response begins. Call on the context. */
    void start(String modelName, List<RequestHandle> admitted) {
        model = modelName;
        handles.addAll(admitted);
        if (closed) { // the client left while we were admitting
            cancelAll();
            return;
        }
        started = true;
        if (failure != null) { // an engine error came before the last admission
            fail(failure);
            return;
        }
        response.putHeader("x-request-id", id);
        if (stream) {
            response.setChunked(true)
                    .putHeader("content-type", "text/event-stream")
                    .putHeader("cache-control", "no-cache")
                    .putHeader("x-accel-buffering", "no"); // proxies must not buffer the stream
            response.drainHandler(v -> pump());
        }
        pump();
    }

    /** A choice could not be admitted: the others are cancelled and the client gets the error. */
    void refuse(GatewayException error, List<RequestHandle> admitted) {
        handles.addAll(admitted);
        cancelAll();
        GatewayException e = error.forClient(id);
        if (!closed) {
            closed = true;
            OpenAiErrors.send(response, e, id);
        }
    }

    /** The client closed the connection: free the engine's sequences. Call on the context. */
    void clientGone() {
        closed = true;
        cancelAll();
    }

    private void cancelAll() {
        handles.forEach(RequestHandle::cancel);
    }

    /**
     * An engine failure. Before the stream began it is an ordinary error response; after, an SSE
     * event {@code data: {"error": {...}}} and the end of the stream, without {@code [DONE]}.
     */
    private void fail(GatewayException engineError) {
        GatewayException error = engineError.forClient(id); // logged even when the client has left
        if (closed) {
            return;
        }
        if (!started) {
            failure = error;
            return;
        }
        closed = true;
        cancelAll();
        if (stream && response.headWritten()) {
            response.end(event(OpenAiErrors.body(error)));
        } else {
            OpenAiErrors.send(response, error, id);
        }
    }

    /** Writes whatever the connection can take now. */
    private void pump() {
        if (closed || !started) {
            return;
        }
        if (!stream) {
            if (Arrays.stream(choices).allMatch(c -> c.finish != null)) {
                closed = true;
                response.putHeader("content-type", "application/json").end(Buffer.buffer(OpenAiJson.bytes(complete())));
            }
            return;
        }
        if (response.writeQueueFull()) {
            return; // the drain handler pumps again
        }
        Buffer out = Buffer.buffer();
        for (Choice c : choices) {
            c.flush(out);
        }
        boolean done = Arrays.stream(choices).allMatch(c -> c.finishSent);
        if (done) {
            if (includeUsage) {
                ObjectNode last = envelope(api.chunkObject);
                last.putArray("choices");
                last.set("usage", usage());
                out.appendBuffer(event(last));
            }
            out.appendBuffer(DONE);
            closed = true;
            response.end(out);
        } else if (out.length() > 0) {
            response.write(out);
        }
    }

    private ObjectNode envelope(String object) {
        ObjectNode o = OpenAiJson.MAPPER.createObjectNode();
        o.put("id", id);
        o.put("object", object);
        o.put("created", created);
        o.put("model", model);
        return o;
    }

    private ObjectNode usage() {
        long prompt = 0;
        long completion = 0;
        for (Choice c : choices) {
            prompt += c.promptTokens;
            completion += c.completionTokens;
        }
        ObjectNode u = OpenAiJson.MAPPER.createObjectNode();
        u.put("prompt_tokens", prompt);
        u.put("completion_tokens", completion);
        u.put("total_tokens", prompt + completion);
        return u;
    }

    /** The non-streaming body. */
    private ObjectNode complete() {
        ObjectNode body = envelope(api.object);
        ArrayNode list = body.putArray("choices");
        for (Choice c : choices) {
            ObjectNode choice = list.addObject();
            choice.put("index", c.index);
            if (api == Api.CHAT) {
                ObjectNode message = choice.putObject("message");
                message.put("role", "assistant");
                message.put("content", c.text.toString());
                message.putNull("refusal");
            } else {
                choice.put("text", c.text.toString());
            }
            choice.set("logprobs", c.renderLogprobs());
            choice.put("finish_reason", finishReason(c.finish));
        }
        body.set("usage", usage());
        return body;
    }

    /** One SSE event: {@code data: <json>\n\n} (compact JSON never holds a raw newline). */
    private static Buffer event(ObjectNode data) {
        byte[] json = OpenAiJson.bytes(data);
        return Buffer.buffer(json.length + 8).appendString("data: ").appendBytes(json).appendString("\n\n");
    }

    /**
     * OpenAI's finish reasons; an aborted request (server shutdown, abort by request id) reads
     * "abort", as in vLLM.
     */
    static String finishReason(FinishReason reason) {
        return switch (reason) {
            case STOP, STOP_STRING -> "stop";
            case LENGTH -> "length";
            case ABORTED -> "abort";
        };
    }

    /** One prompt's generation: the engine's listener, and its not-yet-written output. */
    private final class Choice implements GenerationListener {
        final int index;
        /** Text not yet written (streaming), or all of it (non-streaming). */
        final StringBuilder text = new StringBuilder();
        final List<TokenLogprobs> tokenLogprobs = new ArrayList<>();
        /** Characters of token text already written, for {@code text_offset}. */
        int textOffset;
        boolean roleSent;
        FinishReason finish;
        boolean finishSent;
        int promptTokens;
        int completionTokens;

        Choice(int index) {
            this.index = index;
        }

        @Override
        public void onTokens(int[] tokenIds, String delta, TokenLogprobs[] lps) {
            context.runOnContext(v -> {
                text.append(delta);
                if (lps != null && logprobs >= 0) {
                    tokenLogprobs.addAll(Arrays.asList(lps));
                }
                pump();
            });
        }

        @Override
        public void onFinish(FinishReason reason, int prompt, int completion) {
            context.runOnContext(v -> {
                finish = reason;
                promptTokens = prompt;
                completionTokens = completion;
                pump();
            });
        }

        @Override
        public void onError(Throwable error) {
            context.runOnContext(v -> fail(GatewayException.from(error)));
        }

        /** Appends this choice's pending chunks to {@code out}. */
        void flush(Buffer out) {
            if (api == Api.CHAT && !roleSent) {
                roleSent = true;
                ObjectNode delta = OpenAiJson.MAPPER.createObjectNode().put("role", "assistant").put("content", "");
                out.appendBuffer(event(chunk(delta, null, null)));
            }
            boolean content = !text.isEmpty() || !tokenLogprobs.isEmpty();
            boolean ending = finish != null && !finishSent;
            if (!content && !ending) {
                return;
            }
            ObjectNode lp = tokenLogprobs.isEmpty() ? null : renderLogprobs();
            String t = text.toString();
            text.setLength(0);
            tokenLogprobs.clear();
            if (ending) {
                finishSent = true;
            }
            Object payload = api == Api.CHAT
                    ? (content ? OpenAiJson.MAPPER.createObjectNode().put("content", t) : OpenAiJson.MAPPER.createObjectNode())
                    : t;
            out.appendBuffer(event(chunk(payload, lp, ending ? finishReason(finish) : null)));
        }

        private ObjectNode chunk(Object payload, ObjectNode lp, String finishReason) {
            ObjectNode chunk = envelope(api.chunkObject);
            ObjectNode choice = chunk.putArray("choices").addObject();
            choice.put("index", index);
            if (payload instanceof ObjectNode delta) {
                choice.set("delta", delta);
            } else {
                choice.put("text", (String) payload);
            }
            choice.set("logprobs", lp);
            choice.put("finish_reason", finishReason);
            if (includeUsage) {
                chunk.putNull("usage"); // OpenAI: null on every chunk but the last
            }
            return chunk;
        }

        /** Logprobs of the pending tokens, or null when the request asked for none. */
        ObjectNode renderLogprobs() {
            if (logprobs < 0) {
                return null;
            }
            if (api == Api.CHAT) {
                return LogprobsJson.chat(tokenLogprobs, logprobs, pieces);
            }
            ObjectNode lp = LogprobsJson.completions(tokenLogprobs, logprobs, textOffset, pieces);
            for (TokenLogprobs t : tokenLogprobs) {
                textOffset += pieces.piece(t.tokenId()).text().length();
            }
            return lp;
        }
    }
}
