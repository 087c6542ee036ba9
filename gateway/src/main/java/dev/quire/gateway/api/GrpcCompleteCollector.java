package dev.quire.gateway.api;

import dev.quire.proto.v1.CompleteResponse;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.scheduler.engine.TokenLogprobs;
import io.vertx.core.Context;
import io.vertx.grpc.server.GrpcServerResponse;

/** Gathers one request's whole output for the unary {@code Complete} call and answers once at the end. */
final class GrpcCompleteCollector extends ClientStream {
    private final GrpcServerResponse<GenerateRequest, CompleteResponse> response;
    /** Filled on the engine thread, read once on the event loop after the last callback. */
    private final CompleteResponse.Builder out = CompleteResponse.newBuilder();
    private final StringBuilder text = new StringBuilder();

    GrpcCompleteCollector(Context context, GrpcServerResponse<GenerateRequest, CompleteResponse> response) {
        super(context, response);
        this.response = response;
    }

    synchronized void requestId(String id) {
        out.setRequestId(id);
    }

    @Override
    synchronized String requestId() {
        return out.getRequestId().isEmpty() ? null : out.getRequestId();
    }

    @Override
    public synchronized void onTokens(int[] tokenIds, String delta, TokenLogprobs[] logprobs) {
        for (int id : tokenIds) {
            out.addTokenIds(id);
        }
        text.append(delta);
        GrpcTokenRelay.addLogprobs(logprobs, out::addLogprobs);
    }

    @Override
    public void onFinish(dev.quire.scheduler.engine.FinishReason reason, int prompt, int completion) {
        CompleteResponse result;
        synchronized (this) {
            result = out.setText(text.toString()).setFinishReason(FinishReason.valueOf(reason.name()))
                    .setUsage(GrpcTokenRelay.usage(prompt, completion)).build();
        }
        endOnContext(() -> response.end(result));
    }
}
