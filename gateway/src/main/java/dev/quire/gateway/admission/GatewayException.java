package dev.quire.gateway.admission;

import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.worker.engine.InvalidRequestException;

/**
 * A request the gateway refuses, in protocol-neutral terms; each protocol renders it with its own
 * status (see {@link ErrorKind}).
 */
public final class GatewayException extends RuntimeException {
    private final ErrorKind kind;
    private final String param;
    private final long retryAfterSeconds;

    public GatewayException(ErrorKind kind, String param, String message, long retryAfterSeconds) {
        super(message);
        this.kind = kind;
        this.param = param;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public GatewayException(ErrorKind kind, String param, String message) {
        this(kind, param, message, 0);
    }

    /** Maps any failure of a request to what the client should see. */
    public static GatewayException from(Throwable error) {
        if (error instanceof GatewayException g) {
            return g;
        }
        if (error instanceof ModelCatalog.UnknownModelException u) {
            return new GatewayException(ErrorKind.MODEL_NOT_FOUND, "model", u.getMessage());
        }
        if (error instanceof InvalidRequestException i) {
            return new GatewayException(ErrorKind.INVALID_ARGUMENT, i.field(), i.getMessage());
        }
        return new GatewayException(ErrorKind.INTERNAL, null, "internal error: " + error.getMessage());
    }

    public ErrorKind kind() {
        return kind;
    }

    /** The offending request field, or null. */
    public String param() {
        return param;
    }

    /** Seconds after which a retry may succeed (rate limits, overload); 0 when not applicable. */
    public long retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
