package dev.quire.gateway.api;

import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.proto.v1.AbortResponse;
import dev.quire.proto.v1.CompleteResponse;
import dev.quire.proto.v1.DetokenizeResponse;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpcService;
import dev.quire.proto.v1.ListModelsResponse;
import dev.quire.proto.v1.ModelInfo;
import dev.quire.proto.v1.TokenizeResponse;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.TokenLogprobs;
import com.google.protobuf.Descriptors;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.MessageSizeOverflowException;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.server.Service;
import io.vertx.grpc.server.StatusException;

import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * The {@code quire.v1.Inference} service on a Vert.x gRPC server. Registered as a service (not
 * only as call handlers) so that server reflection lists it.
 */
public final class InferenceApi implements Service {
    private final Vertx vertx;
    private final RequestDispatcher dispatcher;

    public InferenceApi(Vertx vertx, RequestDispatcher dispatcher) {
        this.vertx = vertx;
        this.dispatcher = dispatcher;
    }

    @Override
    public ServiceName name() {
        return InferenceGrpcService.SERVICE_NAME;
    }

    @Override
    public Descriptors.ServiceDescriptor descriptor() {
        return InferenceGrpcService.SERVICE_DESCRIPTOR;
    }

    @Override
    public void bind(GrpcServer server) {
        // A generation's call is watched from its start: a cancel or deadline before its message is read,
        // or while its prompt is tokenized and admitted, is not lost.
        server.callHandler(InferenceGrpcService.Generate, call -> {
            CallWatch watch = CallWatch.install(vertx, call);
            onMessage(call, InferenceGrpcService.Generate, watch, (identity, request) -> {
                if (!watch.over()) {
                    generate(call, watch, identity, request);
                }
            });
        });
        server.callHandler(InferenceGrpcService.Complete, call -> {
            CallWatch watch = CallWatch.install(vertx, call);
            onMessage(call, InferenceGrpcService.Complete, watch, (identity, request) -> {
                if (!watch.over()) {
                    complete(call, watch, identity, request);
                }
            });
        });
        server.callHandler(InferenceGrpcService.ListModels, call -> unary(call, InferenceGrpcService.ListModels, req -> {
            ListModelsResponse.Builder out = ListModelsResponse.newBuilder();
            for (InferenceEngine engine : dispatcher.catalog().all()) {
                dev.quire.scheduler.engine.ModelInfo m = engine.model();
                out.addModels(ModelInfo.newBuilder().setName(m.name())
                        .setMaxContextLength(m.maxModelLen())
                        .setVocabSize(m.vocabSize()));
            }
            call.response().end(out.build());
        }));
        server.callHandler(InferenceGrpcService.Tokenize, call -> unary(call, InferenceGrpcService.Tokenize, req -> {
            InferenceEngine engine = dispatcher.catalog().resolve(req.getModel());
            dispatcher.tokenize(engine, req.getText(), req.getAddSpecialTokens()).onComplete(ids -> {
                if (ids.failed()) {
                    fail(call.response(), GatewayException.from(ids.cause()), null);
                    return;
                }
                TokenizeResponse.Builder out = TokenizeResponse.newBuilder();
                for (int id : ids.result()) {
                    out.addTokenIds(id);
                }
                call.response().end(out.build());
            });
        }));
        server.callHandler(InferenceGrpcService.Detokenize, call -> unary(call, InferenceGrpcService.Detokenize, req -> {
            InferenceEngine engine = dispatcher.catalog().resolve(req.getModel());
            int vocab = engine.model().vocabSize();
            int[] ids = req.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
            for (int id : ids) {
                if (id < 0 || id >= vocab) {
                    throw new GatewayException(ErrorKind.INVALID_ARGUMENT, "token_ids", "token_ids: " + id
                            + " is outside [0, " + vocab + ")");
                }
            }
            dispatcher.detokenize(engine, ids, req.getSkipSpecialTokens())
                    .onComplete(text -> {
                        if (text.failed()) {
                            fail(call.response(), GatewayException.from(text.cause()), null);
                        } else {
                            call.response().end(DetokenizeResponse.newBuilder().setText(text.result()).build());
                        }
                    });
        }));
        server.callHandler(InferenceGrpcService.Abort, call -> onMessage(call, InferenceGrpcService.Abort, null,
                (identity, req) -> {
                    try {
                        if (req.getRequestId().isEmpty()) {
                            throw new GatewayException(ErrorKind.INVALID_ARGUMENT, "request_id",
                                    "request_id: must not be empty");
                        }
                        call.response().end(AbortResponse.newBuilder()
                                .setAborted(dispatcher.abort(identity, GrpcRequests.requestId(req.getRequestId())))
                                .build());
                    } catch (RuntimeException e) {
                        fail(call.response(), GatewayException.from(e), null);
                    }
                }));
    }

    /** Authenticates, then runs {@code body} on each message; any exception becomes the right gRPC status. */
    private <Q, R> void unary(GrpcServerRequest<Q, R> call, ServiceMethod<Q, R> method, Consumer<Q> body) {
        onMessage(call, method, null, (identity, req) -> {
            try {
                body.accept(req);
            } catch (RuntimeException e) {
                fail(call.response(), GatewayException.from(e), null);
            }
        });
    }

    /**
     * Checks the caller's key on the call's headers, as soon as they arrive: a caller without a
     * valid one gets UNAUTHENTICATED at once, and nothing it sends is read or decoded. Then runs
     * {@code body} with the caller's identity on each message, decoded within --max-request-bytes
     * however it is compressed ({@link GrpcMessages}). A refusal is written only while {@code watch}
     * (null for calls that start no generation) says the call is not over.
     */
    private <Q, R> void onMessage(GrpcServerRequest<Q, R> call, ServiceMethod<Q, R> method, CallWatch watch,
                                  BiConsumer<String, Q> body) {
        String identity;
        try {
            identity = dispatcher.authenticate(bearer(call));
        } catch (RuntimeException e) {
            refused(watch, call.response(), GatewayException.from(e), null);
            return;
        }
        int maxBytes = dispatcher.admission().limits().maxRequestBytes();
        // Left to Vert.x, a message over the wire limit would end the call without saying why.
        call.invalidMessageHandler(invalid -> refused(watch, call.response(),
                invalid instanceof MessageSizeOverflowException ? GrpcRequests.tooLarge(maxBytes)
                        : new GatewayException(ErrorKind.INVALID_ARGUMENT, null, "the request message cannot be decoded"),
                null));
        call.messageHandler(message -> {
            Q request;
            try {
                request = GrpcMessages.decode(message, method.decoder(), maxBytes);
            } catch (StatusException e) {
                if (watch == null || watch.refused()) {
                    call.response().status(e.status()).statusMessage(e.message()).end();
                }
                return;
            } catch (RuntimeException e) {
                refused(watch, call.response(), GatewayException.from(e), null);
                return;
            }
            body.accept(identity, request);
        });
    }

    private void generate(GrpcServerRequest<GenerateRequest, GenerateResponse> call, CallWatch watch, String identity,
                          GenerateRequest request) {
        GrpcServerResponse<GenerateRequest, GenerateResponse> response = call.response();
        Context context = vertx.getOrCreateContext();
        RequestDispatcher.Call parsed;
        try {
            parsed = parse(identity, request);
        } catch (RuntimeException e) {
            refused(watch, response, GatewayException.from(e), null);
            return;
        }
        // The relay needs the request id and prompt size, known only once the dispatch
        // completes; the holder keeps any engine callback that would come first, in order.
        RelayHolder holder = new RelayHolder();
        dispatcher.dispatch(parsed, holder).onComplete(result -> {
            if (result.failed()) {
                refused(watch, response, GatewayException.from(result.cause()), parsed.requestId());
                return;
            }
            RequestDispatcher.Dispatched d = result.result();
            if (watch.over()) {
                d.handle().cancel(); // the client left (or its deadline passed) while the request was admitted
                return;
            }
            GrpcTokenRelay relay = new GrpcTokenRelay(context, response, d.requestId(), d.promptTokens(),
                    d.handle(), dispatcher.admission().limits().slowClientTimeout());
            holder.attach(relay);
            watch.attach(relay, d.handle());
        });
    }

    private void complete(GrpcServerRequest<GenerateRequest, CompleteResponse> call, CallWatch watch, String identity,
                          GenerateRequest request) {
        GrpcServerResponse<GenerateRequest, CompleteResponse> response = call.response();
        RequestDispatcher.Call parsed;
        try {
            parsed = parse(identity, request);
        } catch (RuntimeException e) {
            refused(watch, response, GatewayException.from(e), null);
            return;
        }
        GrpcCompleteCollector collector = new GrpcCompleteCollector(vertx.getOrCreateContext(), response);
        collector.requestId(parsed.requestId());
        dispatcher.dispatch(parsed, collector).onComplete(result -> {
            if (result.failed()) {
                refused(watch, response, GatewayException.from(result.cause()), parsed.requestId());
                return;
            }
            collector.requestId(result.result().requestId());
            watch.attach(collector, result.result().handle());
        });
    }

    /**
     * A refusal ends the call with its error, unless the client ended it first ({@code watch} null:
     * a call that starts no generation, always written).
     */
    private static void refused(CallWatch watch, GrpcServerResponse<?, ?> response, GatewayException error,
                                String requestId) {
        GatewayException e = error.forClient(requestId); // logged even when the client has left
        if (watch == null || watch.refused()) {
            fail(response, e, requestId);
        }
    }

    private RequestDispatcher.Call parse(String identity, GenerateRequest request) {
        String requestId = GrpcRequests.requestId(request.getRequestId());
        // Named now, not at submission: an engine failure may reach the client before the dispatch completes.
        if (requestId == null || requestId.isEmpty()) {
            requestId = "req-" + java.util.UUID.randomUUID();
        }
        return new RequestDispatcher.Call("grpc", identity, request.getModel(), GrpcRequests.prompt(request),
                GrpcRequests.sampling(request.getSampling()), requestId, GrpcRequests.priority(request));
    }

    private static String bearer(GrpcServerRequest<?, ?> call) {
        return ApiKeys.bearer(call.headers().get("authorization"));
    }

    /**
     * Ends the call with {@code e}'s status; an internal error's detail goes to the log under
     * {@code requestId} (null when the request has none yet), not to the client.
     */
    static void fail(GrpcServerResponse<?, ?> response, GatewayException error, String requestId) {
        GatewayException e = error.forClient(requestId);
        response.status(e.kind().grpcStatus()).statusMessage(e.getMessage());
        if (e.retryAfterSeconds() > 0) {
            response.trailers().set("retry-after", Long.toString(e.retryAfterSeconds()));
        }
        response.end();
    }

    /**
     * Forwards engine callbacks to a relay created once the dispatch completes. Until then (only
     * possible in theory, the engine needs a step) callbacks are delivered in order on attach.
     */
    private static final class RelayHolder implements GenerationListener {
        private GenerationListener target;
        private final java.util.List<Consumer<GenerationListener>> pending = new java.util.ArrayList<>();

        synchronized void attach(GenerationListener relay) {
            target = relay;
            pending.forEach(p -> p.accept(relay));
            pending.clear();
        }

        private synchronized void deliver(Consumer<GenerationListener> event) {
            if (target != null) {
                event.accept(target);
            } else {
                pending.add(event);
            }
        }

        @Override
        public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
            deliver(l -> l.onTokens(tokenIds, text, logprobs));
        }

        @Override
        public void onFinish(dev.quire.scheduler.engine.FinishReason reason, int promptTokens, int completionTokens) {
            deliver(l -> l.onFinish(reason, promptTokens, completionTokens));
        }

        @Override
        public void onError(Throwable error) {
            deliver(l -> l.onError(error));
        }
    }
}
