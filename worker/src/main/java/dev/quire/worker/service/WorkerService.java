package dev.quire.worker.service;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors;
import dev.quire.proto.internal.v1.DetokenizeResponse;
import dev.quire.proto.internal.v1.Failure;
import dev.quire.proto.internal.v1.GenerateEvent;
import dev.quire.proto.internal.v1.GenerateRequest;
import dev.quire.proto.internal.v1.HelloResponse;
import dev.quire.proto.internal.v1.TokenizeResponse;
import dev.quire.proto.internal.v1.WorkerGrpcService;
import dev.quire.proto.internal.v1.WorkerProto;
import dev.quire.scheduler.cluster.ClusterSecret;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.RequestHandle;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.Service;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The worker's end of the data plane ({@code quire.internal.v1.Worker}): runs generations for
 * gateways on this worker's engine and streams their events back. Every call must carry a
 * gateway's proof of the cluster secret for this worker's address; calls without one are refused
 * with UNAUTHENTICATED before their message is read. A worker never serves the public API.
 */
public final class WorkerService implements Service {
    private static final Logger LOG = LoggerFactory.getLogger(WorkerService.class);

    private final Vertx vertx;
    private final InferenceEngine engine;
    private final ClusterSecret secret;
    private volatile String workerId;
    private volatile String address;
    private volatile boolean draining;
    private final AtomicInteger active = new AtomicInteger();
    /** Generations streaming now, for a drain that migrates them. */
    private final java.util.Map<EventStream, RequestHandle> streams = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * @param address this worker's advertised data-plane address (host:port); proofs are bound to it
     */
    public WorkerService(Vertx vertx, InferenceEngine engine, ClusterSecret secret, String workerId, String address) {
        this.vertx = vertx;
        this.engine = engine;
        this.secret = secret;
        this.workerId = workerId;
        this.address = address;
    }

    /** Sets the advertised address once the port is known (port 0 binds a free one). */
    public void address(String address) {
        this.address = address;
    }

    /** Sets the worker id once the cluster member started. */
    public void workerId(String workerId) {
        this.workerId = workerId;
    }

    /** New generations are refused with UNAVAILABLE from now on (gateways retry them elsewhere). */
    public void startDraining() {
        draining = true;
    }

    /**
     * Hands every generation streaming now back to its gateway, which continues it on another
     * worker from the tokens already delivered: each stream gets its pending tokens, then an
     * UNAVAILABLE failure, and its sequence is aborted here (its KV blocks freed).
     */
    public void migrateAll() {
        for (var e : streams.entrySet()) {
            e.getKey().migrate("worker " + workerId + " is draining; the request continues on another worker");
            e.getValue().cancel();
        }
    }

    /** Generations streaming now. */
    public int activeGenerations() {
        return active.get();
    }

    @Override
    public ServiceName name() {
        return WorkerGrpcService.SERVICE_NAME;
    }

    @Override
    public Descriptors.ServiceDescriptor descriptor() {
        return WorkerProto.getDescriptor().findServiceByName("Worker");
    }

    @Override
    public void bind(GrpcServer server) {
        server.callHandler(WorkerGrpcService.Hello, call -> unary(call, req -> call.response().end(
                HelloResponse.newBuilder().setWorkerId(workerId)
                        .setProof(ByteString.copyFrom(secret.workerProof(req.getNonce().toByteArray()))).build())));
        server.callHandler(WorkerGrpcService.Describe, call -> unary(call,
                req -> call.response().end(WorkerWire.describe(engine.model()))));
        server.callHandler(WorkerGrpcService.Tokenize, call -> unary(call, req ->
                vertx.executeBlocking(() -> engine.text().encode(req.getText(), req.getAddSpecialTokens()), false)
                        .onSuccess(ids -> {
                            TokenizeResponse.Builder out = TokenizeResponse.newBuilder();
                            for (int id : ids) {
                                out.addTokenIds(id);
                            }
                            call.response().end(out.build());
                        })
                        .onFailure(e -> internal(call, "tokenize", e))));
        server.callHandler(WorkerGrpcService.Detokenize, call -> unary(call, req -> {
            int[] ids = req.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
            vertx.executeBlocking(() -> engine.text().decode(ids, req.getSkipSpecialTokens()), false)
                    .onSuccess(text -> call.response().end(DetokenizeResponse.newBuilder().setText(text).build()))
                    .onFailure(e -> internal(call, "detokenize", e));
        }));
        server.callHandler(WorkerGrpcService.Generate, this::generate);
    }

    private boolean authorized(GrpcServerRequest<?, ?> call) {
        if (address != null && workerId != null && secret.checkGatewayProof(call.headers().get(ClusterSecret.AUTH_HEADER), address)) {
            return true;
        }
        LOG.warn("Refused a data-plane call without a valid cluster proof from {}", call.connection().remoteAddress());
        call.response().status(GrpcStatus.UNAUTHENTICATED).statusMessage("cluster authentication failed").end();
        return false;
    }

    private <Q, R> void unary(GrpcServerRequest<Q, R> call, Consumer<Q> body) {
        if (!authorized(call)) {
            return;
        }
        call.handler(req -> {
            try {
                body.accept(req);
            } catch (RuntimeException e) {
                internal(call, "call", e);
            }
        });
    }

    private static void internal(GrpcServerRequest<?, ?> call, String what, Throwable e) {
        LOG.error("Data-plane {} failed", what, e);
        call.response().status(GrpcStatus.INTERNAL).statusMessage(what + " failed on the worker; see its log").end();
    }

    private void generate(GrpcServerRequest<GenerateRequest, GenerateEvent> call) {
        if (!authorized(call)) {
            return;
        }
        call.handler(req -> {
            Context context = vertx.getOrCreateContext();
            EventStream events = new EventStream(context, call.response(), req.getRequestId());
            if (draining) {
                events.end(GenerateEvent.newBuilder().setFailure(WorkerWire.failure(Failure.Kind.UNAVAILABLE, null,
                        "worker " + workerId + " is draining")).build());
                return;
            }
            RequestHandle handle;
            try {
                int[] prompt = req.getPromptTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
                handle = engine.submit(new GenerationRequest(req.getRequestId(), prompt,
                        WorkerWire.sampling(req.getSampling()), req.getPriority(), req.getResumedTokens()),
                        new Counted(events));
            } catch (RuntimeException e) {
                events.end(GenerateEvent.newBuilder().setFailure(EventStream.failureOf(e, req.getRequestId())).build());
                return;
            }
            active.incrementAndGet();
            streams.put(events, handle);
            // The gateway cancelled the call (a client hung up), or its connection broke: abort the
            // generation, which frees its KV blocks in the next engine step.
            events.onBroken(handle::cancel);
            call.errorHandler(error -> events.close());
            call.exceptionHandler(error -> events.close());
        });
    }

    /** Keeps {@link #activeGenerations()} true. */
    private final class Counted implements dev.quire.scheduler.engine.GenerationListener {
        private final EventStream events;

        Counted(EventStream events) {
            this.events = events;
        }

        @Override
        public void onScheduled() {
            events.onScheduled();
        }

        @Override
        public void onTokens(int[] tokenIds, String text, dev.quire.scheduler.engine.TokenLogprobs[] logprobs) {
            events.onTokens(tokenIds, text, logprobs);
        }

        @Override
        public void onFinish(dev.quire.scheduler.engine.FinishReason reason, int promptTokens, int completionTokens) {
            active.decrementAndGet();
            streams.remove(events);
            events.onFinish(reason, promptTokens, completionTokens);
        }

        @Override
        public void onError(Throwable error) {
            active.decrementAndGet();
            streams.remove(events);
            events.onError(error);
        }
    }
}
