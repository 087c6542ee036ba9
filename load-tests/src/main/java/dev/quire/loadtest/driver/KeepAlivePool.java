package dev.quire.loadtest.driver;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientConnection;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpConnectOptions;
import io.vertx.core.http.HttpVersion;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The HTTP/1.1 connections of one {@link OpenAiDriver}, each reused only while the server will still take a
 * request on it.
 *
 * <p>Servers close idle keep-alive connections (cpp-httplib, and so llama.cpp's {@code llama-server}, after
 * 5 s, answering {@code Keep-Alive: timeout=5, max=100}) and many close a connection after a number of
 * requests. A request written on a connection the server is closing at that moment is lost without an answer.
 * So a connection is given out again only when none of these holds:
 * <ul>
 *   <li>the server's last response said {@code Connection: close} (or was HTTP/1.0 without keep-alive);</li>
 *   <li>it has carried as many requests as the {@code max=M} of the server's {@code Keep-Alive} header allows;</li>
 *   <li>it has been idle longer than the {@code timeout=N} of that header, less a safety margin (a second,
 *       or half of N when N is under 2 s); when the server advertises no timeout, 5 s is assumed, the
 *       common default.</li>
 * </ul>
 * A connection that fails any test is closed and a fresh one opened. Idle connections are taken newest first,
 * so the older ones age out instead of being kept barely alive.
 *
 * <p>Calls come from the driver's event loop; the state is guarded by the pool's lock anyway, so a close
 * from another thread is safe. Futures are completed outside the lock.
 */
final class KeepAlivePool {
    /** The idle timeout assumed when the server advertises none: a common default (cpp-httplib's, for one). */
    static final long DEFAULT_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(5);
    private static final long MAX_MARGIN_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** One connection and what its server said about keeping it open. */
    static final class Connection {
        final HttpClientConnection http;
        private int requests;
        private int limit = Integer.MAX_VALUE;
        private long idleLimitNanos = usableIdleNanos(DEFAULT_TIMEOUT_NANOS);
        private long idleSince;
        private boolean reusable = true;
        private boolean closed;

        private Connection(HttpClientConnection http) {
            this.http = http;
        }

        /** Requests written (or about to be written) on this connection. */
        int requests() {
            return requests;
        }
    }

    /**
     * A connection lent for one request.
     *
     * @param reused whether earlier requests went over this connection; only then can the server have closed
     *               it just as this request was written
     */
    record Lease(Connection connection, boolean reused) {
    }

    private record Waiter(Promise<Lease> promise, boolean fresh) {
    }

    private final HttpClientAgent client;
    private final HttpConnectOptions connect;
    private final int maxConnections;
    private final ArrayDeque<Connection> idle = new ArrayDeque<>(); // newest first
    private final Set<Connection> all = new LinkedHashSet<>();
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    private int open; // connections open or being opened
    private boolean shut;

    KeepAlivePool(HttpClientAgent client, HttpConnectOptions connect, int maxConnections) {
        this.client = client;
        this.connect = connect;
        this.maxConnections = Math.max(1, maxConnections);
    }

    /**
     * How long a connection may sit idle before it is no longer trusted: the server's timeout less a margin
     * for the time its response and the next request spend on the wire and in queues.
     */
    static long usableIdleNanos(long timeoutNanos) {
        if (timeoutNanos <= 0) {
            return 0;
        }
        return timeoutNanos - Math.min(MAX_MARGIN_NANOS, timeoutNanos / 2);
    }

    /**
     * A connection for one request.
     *
     * @param fresh open a new connection even when an idle one is at hand (for a retry)
     */
    Future<Lease> acquire(boolean fresh) {
        List<Connection> stale = new ArrayList<>();
        Promise<Lease> promise = Promise.promise();
        Lease lease = null;
        boolean connectNow = false;
        synchronized (this) {
            if (shut) {
                return Future.failedFuture(new IllegalStateException("the HTTP client is closed"));
            }
            long now = System.nanoTime();
            if (!fresh) {
                Connection c;
                while (lease == null && (c = idle.pollFirst()) != null) {
                    if (usable(c, now)) {
                        lease = lend(c);
                    } else {
                        stale.add(c);
                        forget(c);
                    }
                }
            }
            if (lease == null) {
                if (open >= maxConnections) {
                    // Make room by closing idle connections, oldest first: a fresh connection is wanted.
                    Connection c;
                    while (open >= maxConnections && (c = idle.pollLast()) != null) {
                        stale.add(c);
                        forget(c);
                    }
                }
                if (open < maxConnections) {
                    open++;
                    connectNow = true;
                } else {
                    waiters.add(new Waiter(promise, fresh));
                }
            }
        }
        stale.forEach(c -> c.http.close());
        if (lease != null) {
            return Future.succeededFuture(lease);
        }
        if (connectNow) {
            open(promise);
        }
        return promise.future();
    }

    /**
     * Takes a connection back after its response ended, learning from the response's {@code Connection} and
     * {@code Keep-Alive} headers whether and for how long the server keeps it.
     *
     * @param response the response that ended on it, or null when no request was written on it
     */
    void release(Connection c, HttpClientResponse response) {
        Waiter handOver = null;
        Lease handedOver = null;
        boolean close = false;
        synchronized (this) {
            if (c.closed) {
                return;
            }
            if (response != null) {
                learn(c, response);
            }
            long now = System.nanoTime();
            c.idleSince = now;
            if (shut || !usable(c, now)) {
                forget(c);
                close = true;
            } else {
                handOver = waiters.peekFirst();
                if (handOver == null) {
                    idle.addFirst(c);
                } else {
                    waiters.pollFirst();
                    if (handOver.fresh()) {
                        // The waiter wants a new connection: this one makes room for it.
                        forget(c);
                        close = true;
                        open++;
                    } else {
                        handedOver = lend(c);
                    }
                }
            }
        }
        if (close) {
            c.http.close();
            if (handOver == null) {
                serveWaiter();
            }
        }
        if (handedOver != null) {
            handOver.promise().complete(handedOver);
        } else if (handOver != null) {
            open(handOver.promise());
        }
    }

    /** Closes a connection that failed or whose request was abandoned: it is never lent again. */
    void discard(Connection c) {
        boolean known;
        synchronized (this) {
            known = !c.closed;
            if (known) {
                forget(c);
            }
        }
        c.http.close();
        if (known) {
            serveWaiter();
        }
    }

    /** Closes every connection; waiting requests fail. */
    Future<Void> close() {
        List<Connection> conns;
        List<Waiter> waiting;
        synchronized (this) {
            shut = true;
            conns = new ArrayList<>(all);
            conns.forEach(this::forget);
            waiting = new ArrayList<>(waiters);
            waiters.clear();
        }
        waiting.forEach(w -> w.promise().tryFail(new IllegalStateException("the HTTP client is closed")));
        return Future.all(conns.stream().map(c -> c.http.close()).toList()).mapEmpty();
    }

    private void open(Promise<Lease> promise) {
        client.connect(connect).onComplete(ar -> {
            if (ar.failed()) {
                synchronized (this) {
                    open--;
                }
                promise.tryFail(ar.cause());
                // A refused connection refuses the next waiter too, quickly, instead of leaving it to time out.
                serveWaiter();
                return;
            }
            Connection c = new Connection(ar.result());
            Lease lease = null;
            synchronized (this) {
                if (!shut) {
                    all.add(c);
                    lease = lend(c);
                } else {
                    open--;
                }
            }
            if (lease == null) {
                c.http.close();
                promise.tryFail(new IllegalStateException("the HTTP client is closed"));
                return;
            }
            c.http.closeHandler(v -> onClosed(c));
            // A reset or a broken connection fails the request on it, which reports it; nothing to log here.
            c.http.exceptionHandler(t -> { });
            promise.complete(lease);
        });
    }

    /** The server (or the network) closed a connection. */
    private void onClosed(Connection c) {
        synchronized (this) {
            if (c.closed) {
                return;
            }
            idle.remove(c);
            forget(c);
        }
        serveWaiter();
    }

    /** Opens a connection for the first waiter when there is room. */
    private void serveWaiter() {
        Waiter w;
        synchronized (this) {
            if (shut || open >= maxConnections || waiters.isEmpty()) {
                return;
            }
            w = waiters.pollFirst();
            open++;
        }
        open(w.promise());
    }

    /** Counts the request about to be written; called with the lock held. */
    private static Lease lend(Connection c) {
        c.requests++;
        return new Lease(c, c.requests > 1);
    }

    /** Drops a connection from the books; called with the lock held. */
    private void forget(Connection c) {
        if (!c.closed) {
            c.closed = true;
            all.remove(c);
            open--;
        }
    }

    /** Whether a connection may carry another request now; called with the lock held. */
    private static boolean usable(Connection c, long now) {
        return !c.closed && c.reusable && c.requests < c.limit && now - c.idleSince < c.idleLimitNanos;
    }

    /** Reads the response's keep-alive terms; called with the lock held. */
    private static void learn(Connection c, HttpClientResponse response) {
        String connection = response.getHeader("connection");
        if (hasToken(connection, "close")
                || (response.version() == HttpVersion.HTTP_1_0 && !hasToken(connection, "keep-alive"))) {
            c.reusable = false;
        }
        KeepAlive header = KeepAlive.parse(response.getHeader("keep-alive"));
        if (header.timeoutSeconds() >= 0) {
            c.idleLimitNanos = usableIdleNanos(TimeUnit.SECONDS.toNanos(header.timeoutSeconds()));
        }
        if (header.max() >= 0) {
            // Servers write max either as the total they allow (cpp-httplib) or as what is left after this
            // response (Apache); counting it from this response on satisfies both.
            c.limit = (int) Math.min(c.limit, (long) c.requests - 1 + header.max());
        }
    }

    private static boolean hasToken(String header, String token) {
        if (header == null) {
            return false;
        }
        for (String t : header.split(",")) {
            if (t.strip().equalsIgnoreCase(token)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The parameters of a {@code Keep-Alive} response header ({@code timeout=5, max=100}).
     *
     * @param timeoutSeconds the idle timeout, or -1 when absent or malformed
     * @param max            the request limit, or -1 when absent or malformed
     */
    record KeepAlive(int timeoutSeconds, int max) {
        static KeepAlive parse(String header) {
            int timeout = -1;
            int max = -1;
            if (header != null) {
                for (String parameter : header.split(",")) {
                    String[] kv = parameter.split("=", 2);
                    if (kv.length != 2) {
                        continue;
                    }
                    String key = kv[0].strip().toLowerCase(Locale.ROOT);
                    int value = number(kv[1]);
                    if (key.equals("timeout")) {
                        timeout = value;
                    } else if (key.equals("max")) {
                        max = value;
                    }
                }
            }
            return new KeepAlive(timeout, max);
        }

        private static int number(String s) {
            String v = s.strip();
            if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
                v = v.substring(1, v.length() - 1);
            }
            try {
                int n = Integer.parseInt(v);
                return n >= 0 ? n : -1;
            } catch (NumberFormatException e) {
                return -1;
            }
        }
    }
}
