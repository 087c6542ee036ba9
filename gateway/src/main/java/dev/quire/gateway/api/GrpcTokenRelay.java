package dev.quire.gateway.api;

import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.Usage;
import dev.quire.worker.engine.GenerationListener;
import dev.quire.worker.engine.TokenLogprobs;
import io.vertx.core.Context;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServerResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Relays one request's engine output to its gRPC stream. Engine callbacks arrive on the engine
 * thread; every write hops to the stream's Vert.x context so the event loop owns the stream.
 */
final class GrpcTokenRelay implements GenerationListener {
    private static final Logger LOG = LoggerFactory.getLogger(GrpcTokenRelay.class);

    private final Context context;
    private final GrpcServerResponse<GenerateRequest, GenerateResponse> response;
    private final String requestId;
    private final int promptTokens;
    private int completionTokens;
    /** Set on the event loop once the stream is over (finished, failed or cancelled by the client). */
    private boolean closed;

    GrpcTokenRelay(Context context, GrpcServerResponse<GenerateRequest, GenerateResponse> response, String requestId,
                   int promptTokens) {
        this.context = context;
        this.response = response;
        this.requestId = requestId;
        this.promptTokens = promptTokens;
    }

    @Override
    public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
        GenerateResponse.Builder chunk = GenerateResponse.newBuilder().setRequestId(requestId).setText(text);
        for (int id : tokenIds) {
            chunk.addTokenIds(id);
        }
        int tokens = tokenIds.length;
        context.runOnContext(v -> {
            if (!closed) {
                completionTokens += tokens;
                response.write(chunk.setUsage(usage(completionTokens)).build());
            }
        });
    }

    @Override
    public void onFinish(dev.quire.scheduler.batch.FinishReason reason, int prompt, int completion) {
        GenerateResponse last = GenerateResponse.newBuilder()
                .setRequestId(requestId)
                .setFinishReason(FinishReason.valueOf(reason.name()))
                .setUsage(usage(completion))
                .build();
        context.runOnContext(v -> {
            if (!closed) {
                closed = true;
                response.end(last);
            }
        });
    }

    @Override
    public void onError(Throwable error) {
        LOG.warn("Request {} failed in the engine", requestId, error);
        context.runOnContext(v -> {
            if (!closed) {
                closed = true;
                response.status(GrpcStatus.INTERNAL).statusMessage("generation failed: " + error.getMessage()).end();
            }
        });
    }

    /** The client went away: stop writing. Call on the stream's context. */
    void clientGone() {
        closed = true;
    }

    private Usage usage(int completion) {
        return Usage.newBuilder().setPromptTokens(promptTokens).setCompletionTokens(completion).build();
    }
}
