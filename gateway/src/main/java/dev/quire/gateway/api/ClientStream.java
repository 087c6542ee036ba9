package dev.quire.gateway.api;

import dev.quire.gateway.admission.GatewayException;
import dev.quire.scheduler.engine.GenerationListener;
import io.vertx.core.Context;
import io.vertx.grpc.server.GrpcServerResponse;

/**
 * Engine output bound for one gRPC call. Engine callbacks arrive on the engine thread; everything
 * that touches the call hops to its Vert.x context, and stops once the call is over from either side.
 */
abstract class ClientStream implements GenerationListener {
    private final Context context;
    private final GrpcServerResponse<?, ?> response;
    /** Touched on the call's context only. */
    private boolean closed;

    ClientStream(Context context, GrpcServerResponse<?, ?> response) {
        this.context = context;
        this.response = response;
    }

    /** Runs {@code write} on the call's context unless the call is over. */
    final void onContext(Runnable write) {
        context.runOnContext(v -> {
            if (!closed) {
                write.run();
            }
        });
    }

    /** Runs {@code end} on the call's context as its last act, unless the call is already over. */
    final void endOnContext(Runnable end) {
        onContext(() -> {
            closed = true;
            end.run();
        });
    }

    /** The request's id, or null while the dispatch has not said it yet. */
    abstract String requestId();

    @Override
    public final void onError(Throwable error) {
        // Logged now, even if the call is over by the time the context runs.
        GatewayException e = GatewayException.from(error).forClient(requestId());
        endOnContext(() -> {
            beforeError();
            InferenceApi.fail(response, e, requestId());
        });
    }

    /** Writes what must reach the client before an error ends the call. Context only. */
    void beforeError() {
    }

    /** The call is over from the client's side (cancel, disconnect, deadline): stop writing. Context only. */
    final void close() {
        closed = true;
    }

    final boolean isClosed() {
        return closed;
    }
}
