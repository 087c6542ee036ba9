package dev.quire.gateway.admission;

import java.time.Duration;

/**
 * Bounds on the public ports' connections.
 *
 * @param maxStreamsPerConnection concurrent HTTP/2 streams one gRPC connection may open (the
 *                                {@code SETTINGS_MAX_CONCURRENT_STREAMS} the gateway announces); a
 *                                client's further calls wait in the client until one ends
 * @param maxConnections          open client connections on the gRPC and HTTP ports together; a new
 *                                connection beyond this is closed at once
 * @param idleTimeout             a connection that reads and writes nothing for this long is closed;
 *                                zero never closes one
 */
public record ConnectionLimits(int maxStreamsPerConnection, int maxConnections, Duration idleTimeout) {
    public static final int DEFAULT_MAX_STREAMS_PER_CONNECTION = 1000;
    public static final int DEFAULT_MAX_CONNECTIONS = 10_000;
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofMinutes(5);

    public ConnectionLimits {
        if (maxStreamsPerConnection <= 0 || maxConnections <= 0) {
            throw new IllegalArgumentException("streams per connection and connections must be positive");
        }
        if (idleTimeout == null || idleTimeout.isNegative()) {
            throw new IllegalArgumentException("idle timeout must not be negative");
        }
    }

    public static ConnectionLimits defaults() {
        return new ConnectionLimits(DEFAULT_MAX_STREAMS_PER_CONNECTION, DEFAULT_MAX_CONNECTIONS, DEFAULT_IDLE_TIMEOUT);
    }
}
