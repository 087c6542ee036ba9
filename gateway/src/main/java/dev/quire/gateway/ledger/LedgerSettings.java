package dev.quire.gateway.ledger;

import java.time.Duration;

/**
 * How a gateway uses the request ledger.
 *
 * @param enabled   whether requests are recorded at all (off: no retry by request id, no kept results)
 * @param resultTtl how long a finished request's result stays retrievable by its request id
 */
public record LedgerSettings(boolean enabled, Duration resultTtl) {
    public static final LedgerSettings DEFAULTS = new LedgerSettings(true, Duration.ofMinutes(5));
    /**
     * How long a retry waits for the verdict on a gateway that owns its request but has stopped
     * answering: the cluster's failure detection (no heartbeat for 5 s) plus a margin.
     */
    public static final Duration VERDICT_TIMEOUT = Duration.ofSeconds(7);
}
