package dev.quire.gateway.admission;

import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.scheduler.engine.EngineUnavailableException;
import dev.quire.scheduler.engine.InvalidRequestException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.UUID;

/**
 * A request the gateway refuses, in protocol-neutral terms; each protocol renders it with its own
 * status (see {@link ErrorKind}), after {@link #forClient} has kept an internal error's detail for
 * the server log.
 */
public final class GatewayException extends RuntimeException {
    private static final Logger LOG = LoggerFactory.getLogger(GatewayException.class);
    /** Longest detail of an internal error written to the log. */
    private static final int MAX_LOGGED_DETAIL_CHARS = 4096;

    private final ErrorKind kind;
    private final String param;
    private final long retryAfterSeconds;
    /** The message was written for the client: nothing in it is left to hide. */
    private final boolean forClient;

    public GatewayException(ErrorKind kind, String param, String message, long retryAfterSeconds) {
        this(kind, param, message, retryAfterSeconds, null, false);
    }

    public GatewayException(ErrorKind kind, String param, String message) {
        this(kind, param, message, 0);
    }

    private GatewayException(ErrorKind kind, String param, String message, long retryAfterSeconds, Throwable cause,
                             boolean forClient) {
        super(message, cause);
        this.kind = kind;
        this.param = param;
        this.retryAfterSeconds = retryAfterSeconds;
        this.forClient = forClient;
    }

    /** Maps any failure of a request to what the client should see (once passed through {@link #forClient}). */
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
        if (error instanceof EngineUnavailableException) {
            return new GatewayException(ErrorKind.UNAVAILABLE, null, error.getMessage());
        }
        return new GatewayException(ErrorKind.INTERNAL, null, "internal error: " + error.getMessage(), 0, error, false);
    }

    /**
     * This failure as a client may be told it. The message of an internal error describes the
     * server (exception text, paths, template errors), so it is written to the log under
     * {@code requestId}, escaped, with the cause's stack trace, and the client gets only
     * "internal error; see the server log, request id X"; any other error concerns the client's
     * own request and comes back unchanged. Calling this again on the result logs nothing more.
     *
     * @param requestId the request's id, or null (or empty) when it has none yet: one is made up
     */
    public GatewayException forClient(String requestId) {
        if (kind != ErrorKind.INTERNAL || forClient) {
            return this;
        }
        String id = requestId == null || requestId.isEmpty() ? "err-" + UUID.randomUUID() : requestId;
        String safeId = AccessLog.escape(id, AccessLog.MAX_FIELD_CHARS);
        LOG.error("request {} failed: {}", safeId, AccessLog.escape(String.valueOf(getMessage()),
                MAX_LOGGED_DETAIL_CHARS), getCause());
        return new GatewayException(kind, null, "internal error; see the server log, request id " + safeId,
                retryAfterSeconds, null, true);
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
