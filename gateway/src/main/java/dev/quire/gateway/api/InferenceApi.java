package dev.quire.gateway.api;

import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpcService;
import dev.quire.proto.v1.ListModelsResponse;
import dev.quire.proto.v1.ModelInfo;
import dev.quire.proto.v1.TokenizeResponse;
import dev.quire.worker.engine.GenerationRequest;
import dev.quire.worker.engine.InferenceEngine;
import dev.quire.worker.engine.InvalidRequestException;
import dev.quire.worker.engine.RequestHandle;
import dev.quire.worker.engine.SamplingOptions;
import dev.quire.worker.model.ServedModel;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.UUID;

/** The {@code quire.v1.Inference} service on a Vert.x gRPC server. */
public final class InferenceApi {
    private static final Logger LOG = LoggerFactory.getLogger(InferenceApi.class);

    private final Vertx vertx;
    private final ModelCatalog catalog;

    public InferenceApi(Vertx vertx, ModelCatalog catalog) {
        this.vertx = vertx;
        this.catalog = catalog;
    }

    public void bindTo(GrpcServer server) {
        server.callHandler(InferenceGrpcService.Generate, this::generate);
        server.callHandler(InferenceGrpcService.ListModels, call -> call.handler(req -> {
            ListModelsResponse.Builder out = ListModelsResponse.newBuilder();
            for (InferenceEngine engine : catalog.all()) {
                ServedModel m = engine.model();
                out.addModels(ModelInfo.newBuilder().setName(m.name())
                        .setMaxContextLength(m.config().maxPositionEmbeddings())
                        .setVocabSize(m.config().vocabSize()));
            }
            call.response().end(out.build());
        }));
        server.callHandler(InferenceGrpcService.Tokenize, call -> call.handler(req -> {
            ServedModel model;
            try {
                model = catalog.resolve(req.getModel()).model();
            } catch (InvalidRequestException e) {
                fail(call.response(), GrpcStatus.INVALID_ARGUMENT, e.getMessage());
                return;
            }
            tokenize(model, req.getText(), req.getAddSpecialTokens()).onComplete(ids -> {
                if (ids.succeeded()) {
                    TokenizeResponse.Builder out = TokenizeResponse.newBuilder();
                    for (int id : ids.result()) {
                        out.addTokenIds(id);
                    }
                    call.response().end(out.build());
                } else {
                    fail(call.response(), GrpcStatus.INTERNAL, ids.cause().getMessage());
                }
            });
        }));
    }

    private void generate(GrpcServerRequest<GenerateRequest, GenerateResponse> call) {
        call.handler(request -> {
            GrpcServerResponse<GenerateRequest, GenerateResponse> response = call.response();
            InferenceEngine engine;
            GenerateRequestParser.Prompt prompt;
            SamplingOptions sampling;
            try {
                engine = catalog.resolve(request.getModel());
                prompt = GenerateRequestParser.prompt(request);
                sampling = GenerateRequestParser.sampling(request.getSampling());
            } catch (InvalidRequestException e) {
                fail(response, GrpcStatus.INVALID_ARGUMENT, e.getMessage());
                return;
            }
            String requestId = request.getRequestId().isEmpty() ? "req-" + UUID.randomUUID() : request.getRequestId();
            Context context = vertx.getOrCreateContext();
            Future<int[]> ids = prompt.isText()
                    ? tokenize(engine.model(), prompt.text(), true)
                    : Future.succeededFuture(prompt.tokenIds());
            ids.onComplete(tokenized -> {
                if (tokenized.failed()) {
                    fail(response, GrpcStatus.INTERNAL, "tokenization failed: " + tokenized.cause().getMessage());
                    return;
                }
                GrpcTokenRelay relay = new GrpcTokenRelay(context, response, requestId, tokenized.result().length);
                RequestHandle handle;
                try {
                    handle = engine.submit(new GenerationRequest(requestId, tokenized.result(), sampling), relay);
                } catch (InvalidRequestException e) {
                    fail(response, GrpcStatus.INVALID_ARGUMENT, e.getMessage());
                    return;
                } catch (IllegalStateException e) {
                    fail(response, GrpcStatus.UNAVAILABLE, e.getMessage());
                    return;
                }
                // A client that cancels or disconnects frees its sequence in the next engine step.
                call.errorHandler(error -> {
                    LOG.debug("Request {} ended by the client: {}", requestId, error);
                    relay.clientGone();
                    handle.cancel();
                });
                call.exceptionHandler(error -> {
                    relay.clientGone();
                    handle.cancel();
                });
            });
        });
    }

    /** Tokenizes off the event loop: long prompts take real time. */
    private Future<int[]> tokenize(ServedModel model, String text, boolean addSpecialTokens) {
        return vertx.executeBlocking(() -> model.tokenizer().encode(text, addSpecialTokens), false);
    }

    private static void fail(GrpcServerResponse<?, ?> response, GrpcStatus status, String message) {
        response.status(status).statusMessage(message).end();
    }
}
