package dev.quire.gateway.api;

import dev.quire.worker.engine.GenerationListener;

/** Engine output bound for one gRPC call; closed once the call is over from either side. */
interface ClientStream extends GenerationListener {
    /** The call is over from the client's side (cancel, disconnect, deadline): stop writing. Event loop only. */
    void close();

    boolean isClosed();
}
