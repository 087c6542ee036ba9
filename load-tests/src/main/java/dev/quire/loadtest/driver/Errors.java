package dev.quire.loadtest.driver;

import io.vertx.core.VertxException;
import io.vertx.core.http.HttpClosedException;
import io.vertx.core.http.StreamResetException;

import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.UnknownHostException;
import java.util.concurrent.TimeoutException;

/** Turns client exceptions into the short error kinds the report counts. */
final class Errors {
    private Errors() {
    }

    /** A short kind for an exception: connect, timeout, stream_reset, connection_closed or io. */
    static String kind(Throwable error) {
        Throwable t = unwrap(error);
        if (t instanceof ConnectException || t instanceof NoRouteToHostException || t instanceof UnknownHostException) {
            return "connect";
        }
        if (t instanceof TimeoutException || t instanceof io.netty.channel.ConnectTimeoutException) {
            return "timeout";
        }
        if (t instanceof StreamResetException) {
            return "stream_reset";
        }
        if (t instanceof HttpClosedException) {
            return "connection_closed";
        }
        if (t instanceof VertxException && String.valueOf(t.getMessage()).contains("closed")) {
            return "connection_closed";
        }
        return "io";
    }

    /** The message of an exception on one line. */
    static String message(Throwable error) {
        Throwable t = unwrap(error);
        String m = t.getMessage();
        if (m == null || m.isBlank()) {
            m = t.getClass().getSimpleName();
        }
        return m.lines().findFirst().orElse(m).strip();
    }

    static Throwable unwrap(Throwable error) {
        Throwable t = error;
        while (t.getCause() != null && t.getCause() != t
                && (t.getMessage() == null || t instanceof java.util.concurrent.CompletionException)) {
            t = t.getCause();
        }
        return t;
    }
}
