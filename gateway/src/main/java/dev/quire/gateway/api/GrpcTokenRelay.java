package dev.quire.gateway.api;

import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.TokenLogprob;
import dev.quire.proto.v1.TopLogprob;
import dev.quire.proto.v1.Usage;
import dev.quire.scheduler.engine.TokenLogprobs;
import io.vertx.core.Context;
import io.vertx.grpc.server.GrpcServerResponse;

/**
 * Relays one request's engine output to its gRPC stream. Engine callbacks arrive on the engine
 * thread; every write hops to the stream's Vert.x context so the event loop owns the stream.
 */
final class GrpcTokenRelay extends ClientStream {
    private final GrpcServerResponse<GenerateRequest, GenerateResponse> response;
    private final String requestId;
    private final int promptTokens;
    /** Touched on the call's context only. */
    private int completionTokens;

    GrpcTokenRelay(Context context, GrpcServerResponse<GenerateRequest, GenerateResponse> response, String requestId,
                   int promptTokens) {
        super(context, response);
        this.response = response;
        this.requestId = requestId;
        this.promptTokens = promptTokens;
    }

    @Override
    String requestId() {
        return requestId;
    }

    @Override
    public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
        GenerateResponse.Builder chunk = GenerateResponse.newBuilder().setRequestId(requestId).setText(text);
        for (int id : tokenIds) {
            chunk.addTokenIds(id);
        }
        addLogprobs(logprobs, chunk::addLogprobs);
        int tokens = tokenIds.length;
        onContext(() -> {
            completionTokens += tokens;
            response.write(chunk.setUsage(usage(promptTokens, completionTokens)).build());
        });
    }

    @Override
    public void onFinish(dev.quire.scheduler.engine.FinishReason reason, int prompt, int completion) {
        GenerateResponse last = GenerateResponse.newBuilder()
                .setRequestId(requestId)
                .setFinishReason(FinishReason.valueOf(reason.name()))
                .setUsage(usage(prompt, completion))
                .build();
        endOnContext(() -> response.end(last));
    }

    static Usage usage(int prompt, int completion) {
        return Usage.newBuilder().setPromptTokens(prompt).setCompletionTokens(completion).build();
    }

    static void addLogprobs(TokenLogprobs[] logprobs, java.util.function.Consumer<TokenLogprob> sink) {
        if (logprobs == null) {
            return;
        }
        for (TokenLogprobs lp : logprobs) {
            TokenLogprob.Builder b = TokenLogprob.newBuilder().setTokenId(lp.tokenId()).setLogprob(lp.logprob());
            for (int i = 0; i < lp.topTokenIds().length; i++) {
                b.addTop(TopLogprob.newBuilder().setTokenId(lp.topTokenIds()[i]).setLogprob(lp.topLogprobs()[i]));
            }
            sink.accept(b.build());
        }
    }
}
