package dev.quire.gateway.cluster;

import com.google.protobuf.ByteString;
import dev.quire.proto.internal.v1.AttachRequest;
import dev.quire.proto.internal.v1.DescribeRequest;
import dev.quire.proto.internal.v1.DetokenizeRequest;
import dev.quire.proto.internal.v1.Failure;
import dev.quire.proto.internal.v1.GenerateEvent;
import dev.quire.proto.internal.v1.GenerateRequest;
import dev.quire.proto.internal.v1.HelloRequest;
import dev.quire.proto.internal.v1.TokenizeRequest;
import dev.quire.proto.internal.v1.WorkerGrpcClient;
import dev.quire.scheduler.cluster.ClusterSecret;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.InvalidRequestException;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.TokenLogprobs;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The gateway's connection to one worker's data plane: one HTTP/2 connection (the shared client
 * pools one per address) carrying every request as its own stream. Every call carries this
 * gateway's proof of the cluster secret for the worker's address, and no request is sent before
 * the worker proved that it holds the secret too ({@link #verify()}).
 */
final class WorkerClient {
    /** How long a unary call (hello, describe, tokenize) may take. */
    private static final long UNARY_TIMEOUT_SECONDS = 30;

    private final GrpcClient grpc;
    private final String workerId;
    private final String address;
    private final SocketAddress socket;
    private final ClusterSecret secret;
    private final String proof;
    private volatile boolean verified;
    private volatile boolean failed;
    /** The generations and calls on this worker not yet ended, for {@link #abandon()}. */
    private final Set<OpenStream> open = ConcurrentHashMap.newKeySet();

    /** A generation or call in flight: whether it ended, and how to end it as lost. */
    private record OpenStream(AtomicBoolean ended, Runnable lose) {
    }

    WorkerClient(GrpcClient grpc, String workerId, String address, ClusterSecret secret) {
        this.grpc = grpc;
        this.workerId = workerId;
        this.address = address;
        this.socket = socketAddress(workerId, address);
        this.secret = secret;
        this.proof = secret.gatewayProof(address);
    }

    private static SocketAddress socketAddress(String workerId, String address) {
        int colon = address.lastIndexOf(':');
        try {
            return SocketAddress.inetSocketAddress(Integer.parseInt(address.substring(colon + 1)),
                    address.substring(0, colon));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("worker " + workerId + " published a malformed address '" + address + "'");
        }
    }

    String workerId() {
        return workerId;
    }

    String address() {
        return address;
    }

    boolean isVerified() {
        return verified;
    }

    /** The handshake failed; the pool may try a fresh client later. */
    void markFailed() {
        failed = true;
    }

    boolean hasFailed() {
        return failed;
    }

    /** Checks that the worker holds the cluster secret: it must answer a fresh nonce with its proof. */
    Future<Void> verify() {
        byte[] nonce = ClusterSecret.nonce();
        return unary(WorkerGrpcClient.Hello, HelloRequest.newBuilder().setNonce(ByteString.copyFrom(nonce)).build())
                .compose(reply -> {
                    if (!secret.checkWorkerProof(nonce, reply.getProof().toByteArray())
                            || !reply.getWorkerId().equals(workerId)) {
                        return Future.failedFuture(new SecurityException("the worker at " + address
                                + " could not prove it holds the cluster secret (or is not " + workerId + ")"));
                    }
                    verified = true;
                    return Future.succeededFuture();
                });
    }

    Future<ModelInfo> describe() {
        return unary(WorkerGrpcClient.Describe, DescribeRequest.getDefaultInstance()).map(GatewayWire::model);
    }

    Future<int[]> tokenize(String text, boolean addSpecialTokens) {
        return unary(WorkerGrpcClient.Tokenize, TokenizeRequest.newBuilder().setText(text)
                .setAddSpecialTokens(addSpecialTokens).build())
                .map(r -> r.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
    }

    Future<String> detokenize(int[] ids, boolean skipSpecialTokens) {
        DetokenizeRequest.Builder req = DetokenizeRequest.newBuilder().setSkipSpecialTokens(skipSpecialTokens);
        for (int id : ids) {
            req.addTokenIds(id);
        }
        return unary(WorkerGrpcClient.Detokenize, req.build()).map(r -> r.getText());
    }

    private <Q, R> Future<R> unary(ServiceMethod<R, Q> method, Q request) {
        // A call open when the worker leaves the cluster fails at once (see abandon()).
        Promise<R> result = Promise.promise();
        AtomicBoolean ended = new AtomicBoolean();
        open.removeIf(o -> o.ended().get());
        open.add(new OpenStream(ended, () -> {
            if (ended.compareAndSet(false, true)) {
                result.tryFail(unavailable("left the cluster during the call", null));
            }
        }));
        call(method, request).onComplete(r -> {
            ended.set(true);
            if (r.succeeded()) {
                result.tryComplete(r.result());
            } else {
                result.tryFail(r.cause());
            }
        });
        return result.future();
    }

    private <Q, R> Future<R> call(ServiceMethod<R, Q> method, Q request) {
        return grpc.request(socket, method).compose(req -> {
            req.headers().set(ClusterSecret.AUTH_HEADER, proof);
            req.timeout(UNARY_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            return req.send(request).compose(resp -> resp.last().recover(e -> Future.failedFuture(
                    resp.status() == GrpcStatus.UNAUTHENTICATED
                            ? new SecurityException("the worker at " + address + " refused this gateway's proof of "
                            + "the cluster secret (the two hold different secrets)")
                            : unavailable("call failed: " + (resp.status() != null ? resp.status() + " "
                            + resp.statusMessage() : e.getMessage()), e))));
        }, e -> Future.failedFuture(unavailable("unreachable: " + e.getMessage(), e)))
                // Anything else (the stream reset or closed mid-call: the worker died) is the worker's loss too.
                .recover(e -> Future.failedFuture(e instanceof WorkerUnavailableException || e instanceof SecurityException
                        ? e : unavailable("call failed: " + e.getMessage(), e)));
    }

    private WorkerUnavailableException unavailable(String what, Throwable cause) {
        return new WorkerUnavailableException(workerId, "worker " + workerId + " at " + address + ": " + what, cause);
    }

    /**
     * Runs one generation on this worker; events go to {@code listener} on an event loop. A failure
     * to reach the worker, a refusal because it drains, and a broken stream arrive as
     * {@code onError(WorkerUnavailableException)}: the caller may run the request elsewhere.
     *
     * @return cancels the generation (the worker aborts it and frees its KV blocks)
     */
    Runnable generate(dev.quire.scheduler.engine.GenerationRequest request, GenerationListener listener) {
        GenerateRequest.Builder wire = GenerateRequest.newBuilder().setRequestId(request.requestId())
                .setSampling(GatewayWire.sampling(request.sampling())).setPriority(request.priority())
                .setResumedTokens(request.resumedTokens());
        for (int id : request.promptTokenIds()) {
            wire.addPromptTokenIds(id);
        }
        return stream(WorkerGrpcClient.Generate, wire.build(), listener);
    }

    /**
     * Takes over the generation of {@code requestId}, orphaned on this worker by a gateway that
     * died: {@code listener} gets all of its events from the first. A worker that does not hold it
     * answers NOT_FOUND, which arrives as {@code onError(WorkerUnavailableException)}.
     *
     * @return cancels the generation
     */
    Runnable attach(String requestId, GenerationListener listener) {
        return stream(WorkerGrpcClient.Attach, AttachRequest.newBuilder().setRequestId(requestId).build(), listener);
    }

    private <Q> Runnable stream(ServiceMethod<GenerateEvent, Q> method, Q message, GenerationListener listener) {
        AtomicBoolean cancelled = new AtomicBoolean();
        AtomicBoolean ended = new AtomicBoolean();
        GrpcClientRequest<Q, GenerateEvent>[] call = newCallHolder();
        grpc.request(socket, method).onComplete(created -> {
            if (created.failed()) {
                end(ended, listener, unavailable("unreachable: " + created.cause().getMessage(), created.cause()));
                return;
            }
            GrpcClientRequest<Q, GenerateEvent> req = created.result();
            synchronized (call) {
                call[0] = req;
            }
            if (cancelled.get()) {
                req.cancel();
                end(ended, listener, null);
                return;
            }
            req.headers().set(ClusterSecret.AUTH_HEADER, proof);
            req.send(message).onComplete(sent -> {
                if (sent.failed()) {
                    if (!cancelled.get()) {
                        end(ended, listener, unavailable("stream failed: " + sent.cause().getMessage(), sent.cause()));
                    }
                    return;
                }
                var resp = sent.result();
                resp.handler(event -> deliver(event, listener, ended));
                resp.exceptionHandler(e -> {
                    if (!cancelled.get()) {
                        end(ended, listener, unavailable("stream broke: " + e.getMessage(), e));
                    }
                });
                resp.endHandler(v -> {
                    if (!ended.get() && !cancelled.get()) {
                        GrpcStatus status = resp.status();
                        end(ended, listener, unavailable("stream ended without a result (" + status + " "
                                + resp.statusMessage() + ")", null));
                    }
                });
            });
        });
        Runnable cancel = () -> {
            if (cancelled.compareAndSet(false, true)) {
                GrpcClientRequest<Q, GenerateEvent> req;
                synchronized (call) {
                    req = call[0];
                }
                if (req != null) {
                    req.cancel();
                }
            }
        };
        open.removeIf(o -> o.ended().get());
        open.add(new OpenStream(ended, () -> {
            cancel.run();
            end(ended, listener, unavailable("left the cluster while running the request", null));
        }));
        return cancel;
    }

    /**
     * The worker left the cluster (it died, froze, or its host became unreachable): every
     * generation still open on it ends at once with {@code onError(WorkerUnavailableException)}, so
     * that it continues on another worker, and its stream is reset; every unary call (tokenize,
     * detokenize) fails with that exception, so that it is asked of another worker. A stream does not end by
     * itself when the worker's connection was never closed (a frozen process, a lost host or
     * network, a container killed together with its network), and would otherwise wait for TCP.
     */
    void abandon() {
        for (OpenStream o : open) {
            o.lose().run();
        }
        open.clear();
    }

    @SuppressWarnings("unchecked")
    private static <Q> GrpcClientRequest<Q, GenerateEvent>[] newCallHolder() {
        return new GrpcClientRequest[1];
    }

    private void deliver(GenerateEvent event, GenerationListener listener, AtomicBoolean ended) {
        if (ended.get()) {
            return;
        }
        switch (event.getEventCase()) {
            case SCHEDULED -> listener.onScheduled();
            case TOKENS -> {
                var t = event.getTokens();
                TokenLogprobs[] logprobs = null;
                if (t.getLogprobsCount() > 0) {
                    logprobs = new TokenLogprobs[t.getLogprobsCount()];
                    for (int i = 0; i < logprobs.length; i++) {
                        logprobs[i] = GatewayWire.logprobs(t.getLogprobs(i));
                    }
                }
                listener.onTokens(t.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray(), t.getText(),
                        logprobs);
            }
            case FINISHED -> {
                if (ended.compareAndSet(false, true)) {
                    var f = event.getFinished();
                    listener.onFinish(GatewayWire.finish(f.getReason()), f.getPromptTokens(), f.getCompletionTokens());
                }
            }
            case FAILURE -> {
                Failure f = event.getFailure();
                end(ended, listener, switch (f.getKind()) {
                    case INVALID_ARGUMENT -> new InvalidRequestException(f.getField(), stripField(f));
                    case UNAVAILABLE, NOT_FOUND -> unavailable(f.getMessage(), null);
                    default -> new RuntimeException("worker " + workerId + ": " + f.getMessage());
                });
            }
            default -> { }
        }
    }

    /** InvalidRequestException puts "field: " before the problem; the worker's message has it already. */
    private static String stripField(Failure f) {
        String prefix = f.getField() + ": ";
        return f.getMessage().startsWith(prefix) ? f.getMessage().substring(prefix.length()) : f.getMessage();
    }

    private static void end(AtomicBoolean ended, GenerationListener listener, Throwable error) {
        if (error != null && ended.compareAndSet(false, true)) {
            listener.onError(error);
        }
    }
}
