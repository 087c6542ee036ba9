package dev.quire.gateway;

import dev.quire.gateway.routing.RequestDispatcher;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.VertxInternal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The step of a shutdown between stopping the engines and closing the ports: waits until every
 * request has ended (the engines were stopped, so each has its final event) and every event loop
 * has run what was queued on it by then, which includes writing each stream's final chunk. The
 * ports may then close without cutting a stream short.
 */
public final class FinalChunks {
    private static final Logger LOG = LoggerFactory.getLogger(FinalChunks.class);

    private FinalChunks() {
    }

    /** Waits, up to {@code bound} in all, for the requests to end and their last writes to be made. */
    public static void awaitWritten(Vertx vertx, RequestDispatcher dispatcher, Duration bound)
            throws InterruptedException {
        long deadline = System.nanoTime() + bound.toNanos();
        if (!dispatcher.awaitNoLiveRequests(bound)) {
            LOG.warn("{} requests had not ended {} ms after the engines stopped; closing the ports anyway",
                    dispatcher.liveRequests(), bound.toMillis());
        }
        // A task queued on each event loop now runs after every write queued before it.
        List<Future<?>> barriers = new ArrayList<>();
        for (EventExecutor loop : ((VertxInternal) vertx).nettyEventLoopGroup()) {
            barriers.add(loop.submit(() -> { }));
        }
        for (Future<?> barrier : barriers) {
            long left = Math.max(1, deadline - System.nanoTime());
            if (!barrier.await(TimeUnit.NANOSECONDS.toMillis(left) + 1)) {
                LOG.warn("An event loop is still busy {} ms after the engines stopped; closing the ports anyway",
                        bound.toMillis());
                return;
            }
        }
    }
}
