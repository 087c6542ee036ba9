package dev.quire.gateway.routing;

import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;

/**
 * Client-chosen request ids, the same on every protocol: up to {@link #MAX_LENGTH} characters of
 * {@code [A-Za-z0-9._:-]}. An id comes back in every chunk, goes into logs and keys the request
 * ledger, so nothing else is accepted.
 */
public final class RequestIds {
    public static final int MAX_LENGTH = 128;

    private RequestIds() {
    }

    /**
     * Returns {@code id} when it is well-formed (empty means "assign one").
     *
     * @param field how the client named it (request_id, or the X-Request-Id header)
     */
    public static String check(String id, String field) {
        if (id.length() > MAX_LENGTH) {
            throw invalid(field, "must be at most " + MAX_LENGTH + " characters, got " + id.length());
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            boolean allowed = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                    || c == '.' || c == '_' || c == ':' || c == '-';
            if (!allowed) {
                throw invalid(field, String.format("may hold only letters, digits and . _ : -; character %d is U+%04X",
                        i, (int) c));
            }
        }
        return id;
    }

    private static GatewayException invalid(String field, String problem) {
        return new GatewayException(ErrorKind.INVALID_ARGUMENT, field, field + ": " + problem);
    }
}
