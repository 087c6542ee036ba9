package dev.quire.loadtest.cli;

import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpcService;
import dev.quire.proto.v1.ListModelsResponse;
import dev.quire.proto.v1.ModelInfo;
import dev.quire.proto.v1.Usage;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerResponse;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A test peer speaking Quire's gRPC API that misbehaves on purpose, as a cluster losing a worker might. The
 * behaviour follows the request's sampling seed (the harness sets it to the request's index), so counts are
 * exact: seed % 5 == 0 normal, 1 replays a token index (duplicate), 2 ends OK without a finish reason
 * (truncated), 3 finishes ABORTED (truncated), 4 fails with UNAVAILABLE after two tokens (failed).
 */
final class FaultyGrpcPeer implements AutoCloseable {
    final List<String> authorizations = new CopyOnWriteArrayList<>();
    private final Vertx vertx = Vertx.vertx();
    private final HttpServer server;

    FaultyGrpcPeer() throws Exception {
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(InferenceGrpcService.ListModels, call -> call.handler(req -> call.response().end(
                ListModelsResponse.newBuilder().addModels(ModelInfo.newBuilder().setName("faulty")
                        .setVocabSize(1000).setMaxContextLength(4096)).build())));
        grpc.callHandler(InferenceGrpcService.Generate, call -> {
            authorizations.add(String.valueOf(call.headers().get("authorization")));
            call.handler(req -> generate(req, call.response()));
        });
        server = vertx.createHttpServer().requestHandler(grpc).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
    }

    int port() {
        return server.actualPort();
    }

    private void generate(GenerateRequest req, GrpcServerResponse<GenerateRequest, GenerateResponse> response) {
        int behaviour = (int) Math.floorMod(req.getSampling().getSeed(), 5L);
        int n = req.getSampling().getMaxTokens();
        int prompt = req.getPromptTokenIds().getIdsCount();
        emit(response, behaviour, n, prompt, 1, false);
    }

    private void emit(GrpcServerResponse<GenerateRequest, GenerateResponse> response, int behaviour, int n, int prompt,
                      int index, boolean replayed) {
        vertx.setTimer(1, id -> {
            if (behaviour == 4 && index == 3) {
                response.status(GrpcStatus.UNAVAILABLE).statusMessage("worker lost").end();
                return;
            }
            response.write(chunk(index, prompt, index));
            if (behaviour == 1 && index == 2 && !replayed) {
                // A retried worker replaying from index 1 (token indices 1 and 2 again).
                emit(response, behaviour, n, prompt, 2, true);
                return;
            }
            if (index < n) {
                emit(response, behaviour, n, prompt, index + 1, replayed);
                return;
            }
            GenerateResponse.Builder last = GenerateResponse.newBuilder().setRequestId("r")
                    .setUsage(Usage.newBuilder().setPromptTokens(prompt).setCompletionTokens(n));
            switch (behaviour) {
                case 2 -> response.end();
                case 3 -> response.end(last.setFinishReason(FinishReason.ABORTED).build());
                default -> response.end(last.setFinishReason(FinishReason.LENGTH).build());
            }
        });
    }

    private static GenerateResponse chunk(int token, int prompt, int cumulative) {
        return GenerateResponse.newBuilder().setRequestId("r").addTokenIds(100 + token).setText("t")
                .setUsage(Usage.newBuilder().setPromptTokens(prompt).setCompletionTokens(cumulative)).build();
    }

    @Override
    public void close() throws Exception {
        server.close().await(5, TimeUnit.SECONDS);
        vertx.close().await(5, TimeUnit.SECONDS);
    }
}
