package dev.quire.loadtest.driver;

import dev.quire.loadtest.workload.RequestSpec;
import io.vertx.core.Future;

/**
 * A non-blocking client for one protocol. One instance belongs to one Vert.x event loop: {@link #send} is
 * called on it and the response callbacks run on it, so one process drives thousands of concurrent streams
 * without a thread per request.
 */
public interface Driver {
    /**
     * Checks that the target answers and learns the model name and, where the server says, its vocabulary
     * size and context length.
     *
     * @return fails with a one-line message when the target cannot be reached or refuses
     */
    Future<ServerInfo> probe();

    /**
     * Sends one request; the response is reported to {@code recorder}, which always ends with exactly one
     * terminal call.
     *
     * @param seed sampling seed for this request (so sampled runs repeat)
     */
    void send(RequestSpec spec, long seed, RequestRecorder recorder);

    /** Closes connections. */
    Future<Void> close();
}
