package dev.quire.worker.service;

import dev.quire.proto.internal.v1.Failure;
import dev.quire.proto.internal.v1.Finished;
import dev.quire.proto.internal.v1.GenerateEvent;
import dev.quire.proto.internal.v1.Scheduled;
import dev.quire.proto.internal.v1.Tokens;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.InvalidRequestException;
import dev.quire.scheduler.engine.TokenLogprobs;
import io.vertx.core.Context;
import io.vertx.grpc.server.GrpcServerResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One generation's events on its data-plane stream. Engine callbacks hop to the call's Vert.x
 * context. While the stream's write queue is full (a gateway, or its client, reads slower than
 * the engine writes), new tokens are merged into one pending event and written when the queue
 * drains: the memory a slow reader costs is a few bytes per token, never a message per token.
 */
final class EventStream implements GenerationListener {
    private static final Logger LOG = LoggerFactory.getLogger(EventStream.class);

    private final Context context;
    private final GrpcServerResponse<?, GenerateEvent> response;
    private final String requestId;
    /** Context only from here on. */
    private Tokens.Builder pending;
    /** Nothing more is written: the last event went out, or the stream broke. */
    private boolean ended;
    /** This side wrote the last event. */
    private boolean finished;
    /** How the gateway went away, once it did: true for a cancel, false for a lost connection. */
    private Boolean goneCancelled;
    private Gone gone;
    /** Runs once when nothing more will be written or told. */
    private Runnable whenDone = () -> { };

    /** How the gateway's side of the stream ended before its last event. */
    interface Gone {
        /** The gateway reset the stream: its client hung up, or it aborted the request. */
        void cancelled();

        /** The stream broke with its connection: the gateway died or the network failed. */
        void lost();
    }

    EventStream(Context context, GrpcServerResponse<?, GenerateEvent> response, String requestId) {
        this.context = context;
        this.response = response;
        this.requestId = requestId;
    }

    @Override
    public void onScheduled() {
        context.runOnContext(v -> write(GenerateEvent.newBuilder().setScheduled(Scheduled.getDefaultInstance()).build()));
    }

    @Override
    public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
        context.runOnContext(v -> {
            if (ended) {
                return;
            }
            if (pending == null) {
                pending = Tokens.newBuilder();
            }
            for (int id : tokenIds) {
                pending.addTokenIds(id);
            }
            pending.setText(pending.getText() + text);
            if (logprobs != null) {
                for (TokenLogprobs l : logprobs) {
                    pending.addLogprobs(WorkerWire.logprobs(l));
                }
            }
            if (!response.writeQueueFull()) {
                flush();
            } else {
                response.drainHandler(d -> flush());
            }
        });
    }

    private void flush() {
        if (pending != null && !ended) {
            Tokens tokens = pending.build();
            pending = null;
            write(GenerateEvent.newBuilder().setTokens(tokens).build());
        }
    }

    @Override
    public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
        context.runOnContext(v -> {
            flush();
            end(GenerateEvent.newBuilder().setFinished(Finished.newBuilder().setReason(WorkerWire.finish(reason))
                    .setPromptTokens(promptTokens).setCompletionTokens(completionTokens)).build());
        });
    }

    @Override
    public void onError(Throwable error) {
        context.runOnContext(v -> {
            flush();
            end(GenerateEvent.newBuilder().setFailure(failureOf(error, requestId)).build());
        });
    }

    /** The failure event for an error; internal details stay in this worker's log. */
    static Failure failureOf(Throwable error, String requestId) {
        if (error instanceof InvalidRequestException invalid) {
            return WorkerWire.failure(Failure.Kind.INVALID_ARGUMENT, invalid.field(), invalid.getMessage());
        }
        if (error instanceof dev.quire.scheduler.engine.EngineUnavailableException) {
            return WorkerWire.failure(Failure.Kind.UNAVAILABLE, null, error.getMessage());
        }
        LOG.error("Request {} failed in the engine", requestId, error);
        return WorkerWire.failure(Failure.Kind.INTERNAL, null, "the worker failed while running request " + requestId
                + "; see its log");
    }

    /** Ends the stream so that its gateway continues the generation elsewhere (a drain that migrates). */
    void migrate(String reason) {
        context.runOnContext(v -> {
            flush();
            end(GenerateEvent.newBuilder().setFailure(WorkerWire.failure(Failure.Kind.UNAVAILABLE, null, reason))
                    .build());
        });
    }

    /** Runs {@code action} once when the stream is over (its last event written, or its gateway gone). Context only. */
    void whenDone(Runnable action) {
        whenDone = action;
    }

    private void done() {
        Runnable r = whenDone;
        whenDone = () -> { };
        r.run();
    }

    /** Tells {@code handler} how the gateway went away, if it does (or already did). */
    void onGone(Gone handler) {
        context.runOnContext(v -> {
            gone = handler;
            tellGone();
        });
    }

    /**
     * The gateway's side ended: {@code cancelled} when it reset the stream, else its connection was
     * lost. Context only.
     */
    void gatewayGone(boolean cancelled) {
        if (goneCancelled != null || finished) {
            return;
        }
        goneCancelled = cancelled;
        ended = true;
        pending = null;
        tellGone();
        done();
    }

    /** The connection carrying the stream closed (the gateway died): from any thread. */
    void connectionLost() {
        context.runOnContext(v -> gatewayGone(false));
    }

    private void tellGone() {
        if (gone != null && goneCancelled != null) {
            Gone g = gone;
            gone = null;
            if (goneCancelled) {
                g.cancelled();
            } else {
                g.lost();
            }
        }
    }

    /** Ends the stream with {@code last}; context only. */
    void end(GenerateEvent last) {
        if (ended) {
            return;
        }
        ended = true;
        finished = true;
        done();
        try {
            response.end(last);
        } catch (IllegalStateException e) {
            // The gateway cancelled the stream meanwhile; nothing is waiting for this event.
        }
    }

    private void write(GenerateEvent event) {
        if (ended) {
            return;
        }
        try {
            response.write(event);
        } catch (IllegalStateException e) {
            // Reset or closed before its handlers ran: they tell how (gatewayGone).
            ended = true;
            pending = null;
        }
    }
}
