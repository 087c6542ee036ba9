package dev.quire.gateway.cluster;

import dev.quire.scheduler.cluster.ClusterSecret;
import dev.quire.scheduler.cluster.WorkerDirectory;
import dev.quire.scheduler.cluster.WorkerRecord;
import dev.quire.scheduler.engine.ModelInfo;
import io.vertx.core.Vertx;
import io.vertx.grpc.client.GrpcClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * The data-plane clients of every worker this gateway knows: one per worker, created when its
 * record first appears, usable once the worker proved it holds the cluster secret, dropped when
 * it leaves. Reports each model the first time a verified worker describes it.
 */
public final class WorkerPool implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WorkerPool.class);

    private final Vertx vertx;
    private final GrpcClient grpc;
    private final WorkerDirectory directory;
    private final ClusterSecret secret;
    private final Map<String, WorkerClient> clients = new ConcurrentHashMap<>();
    private final Map<String, ModelInfo> models = new ConcurrentHashMap<>();
    private final List<BiConsumer<ModelInfo, String>> modelListeners = new CopyOnWriteArrayList<>();
    private final List<Consumer<String>> departureListeners = new CopyOnWriteArrayList<>();
    private final long retryTimer;

    public WorkerPool(Vertx vertx, WorkerDirectory directory, ClusterSecret secret) {
        this.vertx = vertx;
        this.grpc = GrpcClient.client(vertx);
        this.directory = directory;
        this.secret = secret;
        directory.onArrival(this::connect);
        directory.onDeparture(this::disconnect);
        directory.all().forEach(e -> connect(e.record()));
        // A worker whose first handshake failed (still starting, say) is tried again.
        this.retryTimer = vertx.setPeriodic(1000, t -> directory.all().forEach(e -> {
            WorkerClient c = clients.get(e.record().workerId());
            if (c == null || c.hasFailed()) {
                clients.remove(e.record().workerId(), c);
                connect(e.record());
            }
        }));
    }

    /** Calls {@code listener} with each model (and the worker describing it) once first described. */
    public void onModel(BiConsumer<ModelInfo, String> listener) {
        modelListeners.add(listener);
        models.forEach((name, info) -> listener.accept(info, null));
    }

    /** Calls {@code listener} with a worker's id when it leaves or dies. */
    public void onDeparture(Consumer<String> listener) {
        departureListeners.add(listener);
    }

    private void connect(WorkerRecord record) {
        if ("in-process".equals(record.address()) || record.address().isEmpty()) {
            return; // the all-in-one server's own engine, reached without a network hop
        }
        WorkerClient client;
        try {
            client = new WorkerClient(grpc, record.workerId(), record.address(), secret);
        } catch (IllegalArgumentException e) {
            LOG.warn("Ignoring worker {}: {}", record.workerId(), e.getMessage());
            return;
        }
        if (clients.putIfAbsent(record.workerId(), client) != null) {
            return;
        }
        client.verify().compose(v -> client.describe()).onComplete(r -> {
            if (r.failed()) {
                client.markFailed();
                if (r.cause() instanceof SecurityException) {
                    LOG.error("Not using worker {}: {}", record.workerId(), r.cause().getMessage());
                } else {
                    LOG.debug("Worker {} not reachable yet: {}", record.workerId(), r.cause().getMessage());
                }
                return;
            }
            ModelInfo info = r.result();
            LOG.info("Worker {} joined: model '{}' at {}", record.workerId(), info.name(), record.address());
            if (models.putIfAbsent(info.name(), info) == null) {
                modelListeners.forEach(l -> l.accept(info, record.workerId()));
            }
        });
    }

    private void disconnect(String workerId) {
        WorkerClient client = clients.remove(workerId);
        if (client != null) {
            LOG.info("Worker {} left", workerId);
            client.abandon();
        }
        departureListeners.forEach(l -> l.accept(workerId));
    }

    /** The verified client of a worker, or null. */
    WorkerClient client(String workerId) {
        WorkerClient c = clients.get(workerId);
        return c != null && c.isVerified() ? c : null;
    }

    WorkerDirectory directory() {
        return directory;
    }

    Vertx vertx() {
        return vertx;
    }

    @Override
    public void close() {
        vertx.cancelTimer(retryTimer);
        grpc.close();
    }
}
