package dev.quire.worker.service;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors;
import dev.quire.proto.internal.v1.AttachRequest;
import dev.quire.proto.internal.v1.DetokenizeResponse;
import dev.quire.proto.internal.v1.DrainResponse;
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
import io.vertx.core.http.HttpConnection;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.Service;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
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
    private final Duration orphanGrace;
    private final AtomicInteger active = new AtomicInteger();
    /** Open streams by the gateway connection carrying them. */
    private final Map<HttpConnection, Set<EventStream>> connections = new ConcurrentHashMap<>();
    /** Generations by request id, from submission until nothing can attach to them any more. */
    private final Map<String, Generation> generations = new ConcurrentHashMap<>();
    private final Generation.Lifecycle lifecycle = new Generation.Lifecycle() {
        @Override
        public void engineDone(Generation g) {
            active.decrementAndGet();
        }

        @Override
        public void gone(Generation g) {
            generations.remove(g.requestId(), g);
        }
    };

    /**
     * @param address     this worker's advertised data-plane address (host:port); proofs are bound to it
     * @param orphanGrace how long a generation whose gateway was lost runs on, waiting for another to attach
     */
    public WorkerService(Vertx vertx, InferenceEngine engine, ClusterSecret secret, String workerId, String address,
                         Duration orphanGrace) {
        this.vertx = vertx;
        this.engine = engine;
        this.secret = secret;
        this.workerId = workerId;
        this.address = address;
        this.orphanGrace = orphanGrace;
    }

    /** A service whose orphans wait {@link #DEFAULT_ORPHAN_GRACE}. */
    public WorkerService(Vertx vertx, InferenceEngine engine, ClusterSecret secret, String workerId, String address) {
        this(vertx, engine, secret, workerId, address, DEFAULT_ORPHAN_GRACE);
    }

    /** How long an orphaned generation waits for a gateway to attach, unless configured. */
    public static final Duration DEFAULT_ORPHAN_GRACE = Duration.ofSeconds(30);

    /** Sets the advertised address once the port is known (port 0 binds a free one). */
    public void address(String address) {
        this.address = address;
    }

    /** Sets the worker id once the cluster member started. */
    public void workerId(String workerId) {
        this.workerId = workerId;
    }

    private volatile java.util.function.Consumer<Boolean> drainRequests = migrate -> { };

    /**
     * What to do when an operator asks this worker to drain over the data plane ({@code quire
     * cluster drain}); the argument says whether to migrate. The process drains and exits, as on SIGTERM.
     */
    public void onDrainRequest(java.util.function.Consumer<Boolean> action) {
        this.drainRequests = action;
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
        for (Generation g : generations.values()) {
            g.migrate("worker " + workerId + " is draining; the request continues on another worker");
        }
    }

    /**
     * Streams still open to gateways: a finished generation's last event is written on its stream's
     * event loop just after the engine is done with it, so a drain waits for these too before the
     * worker leaves (gateways end the streams of a worker that left).
     */
    public int openStreams() {
        int n = 0;
        for (Set<EventStream> open : connections.values()) {
            n += open.size();
        }
        return n;
    }

    /** Generations the engine is running now, orphans included. */
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
        server.callHandler(WorkerGrpcService.Attach, this::attach);
        server.callHandler(WorkerGrpcService.Drain, call -> unary(call, req -> {
            LOG.info("Drain requested over the data plane from {} ({})", call.connection().remoteAddress(),
                    req.getMigrate() ? "migrate" : "finish");
            call.response().end(DrainResponse.newBuilder().setInFlight(active.get()).setWorkerId(workerId).build());
            drainRequests.accept(req.getMigrate());
        }));
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
            EventStream events = stream(call, req.getRequestId());
            if (draining) {
                events.end(GenerateEvent.newBuilder().setFailure(WorkerWire.failure(Failure.Kind.UNAVAILABLE, null,
                        "worker " + workerId + " is draining")).build());
                return;
            }
            Generation generation = new Generation(context, req.getRequestId(), orphanGrace, lifecycle);
            Generation previous = generations.putIfAbsent(req.getRequestId(), generation);
            if (previous != null && previous.isOrphaned()) {
                // Its gateway died and the client started over under the same id without taking it over
                // (no ledger): the gateway runs it on another worker.
                events.end(GenerateEvent.newBuilder().setFailure(WorkerWire.failure(Failure.Kind.UNAVAILABLE, null,
                        "worker " + workerId + " holds an orphaned generation under request_id '"
                                + req.getRequestId() + "'")).build());
                return;
            }
            if (previous != null) {
                events.end(GenerateEvent.newBuilder().setFailure(WorkerWire.failure(Failure.Kind.INVALID_ARGUMENT,
                        "request_id", "request_id: '" + req.getRequestId() + "' is already running on this worker"))
                        .build());
                return;
            }
            RequestHandle handle;
            active.incrementAndGet();
            try {
                int[] prompt = req.getPromptTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
                handle = engine.submit(new GenerationRequest(req.getRequestId(), prompt,
                        WorkerWire.sampling(req.getSampling()), req.getPriority(), req.getResumedTokens()), generation);
            } catch (RuntimeException e) {
                active.decrementAndGet();
                generations.remove(req.getRequestId(), generation);
                events.end(GenerateEvent.newBuilder().setFailure(EventStream.failureOf(e, req.getRequestId())).build());
                return;
            }
            generation.started(handle, events);
        });
    }

    /** A gateway takes over a generation whose gateway was lost (see {@link Generation}). */
    private void attach(GrpcServerRequest<AttachRequest, GenerateEvent> call) {
        if (!authorized(call)) {
            return;
        }
        call.handler(req -> {
            EventStream events = stream(call, req.getRequestId());
            Generation generation = generations.get(req.getRequestId());
            Runnable notFound = () -> events.end(GenerateEvent.newBuilder().setFailure(WorkerWire.failure(
                    Failure.Kind.NOT_FOUND, "request_id", "worker " + workerId + " holds no orphaned request '"
                            + req.getRequestId() + "'")).build());
            if (generation == null) {
                notFound.run();
            } else {
                generation.attachLater(events, notFound);
            }
        });
    }

    /**
     * The events of one call. A reset from the gateway is a cancel (its client hung up); a call lost
     * with its connection leaves the generation orphaned (the gateway died): a closed connection
     * resets none of its streams, so each connection's open streams are told when it closes.
     */
    private EventStream stream(GrpcServerRequest<?, GenerateEvent> call, String requestId) {
        EventStream events = new EventStream(vertx.getOrCreateContext(), call.response(), requestId);
        call.errorHandler(error -> events.gatewayGone(true));
        call.exceptionHandler(error -> events.gatewayGone(false));
        HttpConnection connection = call.connection();
        Set<EventStream> open = connections.computeIfAbsent(connection, c -> {
            Set<EventStream> streams = ConcurrentHashMap.newKeySet();
            c.closeHandler(v -> {
                Set<EventStream> lost = connections.remove(c);
                if (lost != null) {
                    lost.forEach(EventStream::connectionLost);
                }
            });
            return streams;
        });
        open.add(events);
        events.whenDone(() -> open.remove(events));
        return events;
    }
}
