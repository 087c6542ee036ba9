package dev.quire.gateway.api;

import dev.quire.scheduler.engine.RequestHandle;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServerRequest;

/**
 * Ends a request when its call ends first: a client that cancels, resets the stream or loses its
 * connection, or whose grpc-timeout passes. Installed when the call starts, before its message is read (Vert.x may
 * report a reset before it delivers a message already received), so a call that ends before or
 * while its prompt is tokenized and the request admitted is not lost: a message that arrives on a
 * call already over starts nothing, and a request admitted meanwhile is cancelled the moment its
 * handle exists, freeing its sequence in the engine's next step. Touched on the call's context only.
 */
final class CallWatch {
    private final GrpcServerRequest<?, ?> call;
    private ClientStream stream;
    private RequestHandle handle;
    /** The call is over from the client's side (or its deadline passed). */
    private boolean over;

    private CallWatch(GrpcServerRequest<?, ?> call) {
        this.call = call;
    }

    /** Watches {@code call} from now on; its deadline counts from its start, as the client's does. */
    static CallWatch install(Vertx vertx, GrpcServerRequest<?, ?> call) {
        CallWatch watch = new CallWatch(call);
        // A stream reset arrives as a gRPC error; a connection that fails or closes under the call (the
        // client went away, or sent so many resets that the server closed its connection) as an
        // exception of the response, once the request side has ended.
        call.errorHandler(error -> watch.end(false));
        call.exceptionHandler(error -> watch.end(false));
        call.response().exceptionHandler(error -> watch.end(false));
        long timeout = call.timeout();
        if (timeout > 0) {
            vertx.setTimer(timeout, t -> watch.end(true));
        }
        return watch;
    }

    /**
     * The request was admitted: output goes to {@code stream}. If the call is already over, the
     * request is cancelled at once.
     */
    void attach(ClientStream stream, RequestHandle handle) {
        this.stream = stream;
        this.handle = handle;
        if (over) {
            stream.close();
            handle.cancel();
        }
    }

    /** The call is over from the client's side (or its deadline passed): nothing more may start or be written. */
    boolean over() {
        return over;
    }

    /**
     * The request was refused before it reached the engine: returns whether the refusal may still be
     * written (the client has not left and the deadline has not passed); the watch ends either way.
     */
    boolean refused() {
        boolean write = !over;
        over = true;
        return write;
    }

    private void end(boolean deadline) {
        if (over || (stream != null && stream.isClosed())) {
            return; // already over, or the response ended first
        }
        over = true;
        if (stream != null) {
            stream.close();
        }
        if (handle != null) {
            handle.cancel();
        }
        if (deadline) {
            call.response().status(GrpcStatus.DEADLINE_EXCEEDED).statusMessage("deadline exceeded").end();
        }
    }
}
