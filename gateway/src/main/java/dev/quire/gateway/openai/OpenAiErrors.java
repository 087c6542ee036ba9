package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;

/** OpenAI's error body, {@code {"error":{"message","type","param","code"}}}, with the matching status. */
public final class OpenAiErrors {
    private OpenAiErrors() {
    }

    static GatewayException invalid(String param, String problem) {
        return new GatewayException(ErrorKind.INVALID_ARGUMENT, param, param + ": " + problem);
    }

    /**
     * The JSON body of an error; also sent as an SSE event when a stream fails after it started. Pass
     * an internal error through {@link GatewayException#forClient} first, naming the request's id.
     */
    static ObjectNode body(GatewayException error) {
        GatewayException e = error.forClient(null);
        return body(e.getMessage(), e.kind().openAiType(), e.param(), e.kind().openAiCode());
    }

    static ObjectNode body(String message, String type, String param, String code) {
        ObjectNode error = OpenAiJson.MAPPER.createObjectNode();
        error.put("message", message);
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        ObjectNode out = OpenAiJson.MAPPER.createObjectNode();
        out.set("error", error);
        return out;
    }

    /** {@link #send(HttpServerResponse, GatewayException, String)} for a request without an id yet. */
    public static void send(HttpServerResponse response, GatewayException e) {
        send(response, e, null);
    }

    /**
     * Ends {@code response} with {@code e}'s status, body and, for rate limits, {@code Retry-After}.
     * An internal error's detail goes to the log under {@code requestId} (null: one is made up), not
     * to the client.
     */
    static void send(HttpServerResponse response, GatewayException error, String requestId) {
        GatewayException e = error.forClient(requestId);
        if (e.retryAfterSeconds() > 0) {
            response.putHeader("retry-after", Long.toString(e.retryAfterSeconds()));
        }
        if (e.kind() == ErrorKind.UNAUTHENTICATED) {
            response.putHeader("www-authenticate", "Bearer");
        }
        send(response, e.kind().httpStatus(), body(e));
    }

    static void send(HttpServerResponse response, int status, ObjectNode body) {
        if (response.ended() || response.closed()) {
            return;
        }
        if (response.headWritten()) {
            // Only reachable if a stream's headers went out; the caller sends an SSE error instead.
            response.end();
            return;
        }
        response.setStatusCode(status).putHeader("content-type", "application/json")
                .end(Buffer.buffer(OpenAiJson.bytes(body)));
    }
}
