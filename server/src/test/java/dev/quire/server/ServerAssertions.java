package dev.quire.server;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/** Waits shared by the tests that run a real all-in-one server. */
public final class ServerAssertions {
    private ServerAssertions() {
    }

    /**
     * Waits until no request is live and no KV block is referenced, then asserts it. The engine
     * refreshes its stats after a step, so a freshly ended request may need a moment.
     */
    public static void awaitIdle(AllInOneServer server) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while ((server.dispatcher().liveRequests() > 0 || server.engine().stats().kvBlocksUsed() > 0)
                && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(server.dispatcher().liveRequests()).isZero();
        assertThat(server.engine().stats().kvBlocksUsed()).isZero();
    }
}
