package dev.quire.worker.service;

import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.cluster.WorkerInfo;
import dev.quire.scheduler.cluster.WorkerRegistry;
import dev.quire.worker.engine.LlamaEngine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/** Publishes this worker's models and load to the cluster's worker registry, once a second. */
public final class WorkerHeartbeat implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WorkerHeartbeat.class);

    private final WorkerRegistry registry;
    private final String workerId;
    private final String endpoint;
    private final LlamaEngine engine;
    private final ScheduledExecutorService timer;

    public WorkerHeartbeat(WorkerRegistry registry, String workerId, String endpoint, LlamaEngine engine) {
        this.registry = registry;
        this.workerId = workerId;
        this.endpoint = endpoint;
        this.engine = engine;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "quire-worker-heartbeat");
            t.setDaemon(true);
            return t;
        });
        publish();
        timer.scheduleAtFixedRate(this::publishQuietly, 1, 1, TimeUnit.SECONDS);
    }

    private void publishQuietly() {
        try {
            publish();
        } catch (RuntimeException e) {
            LOG.warn("Could not publish worker state", e);
        }
    }

    private void publish() {
        SchedulerStats s = engine.stats();
        registry.publish(new WorkerInfo(workerId, endpoint, List.of(engine.model().name()), s.kvBlocksTotal(),
                s.kvBlocksUsed(), s.running(), s.waiting(), System.currentTimeMillis()));
    }

    @Override
    public void close() {
        timer.shutdownNow();
        try {
            registry.withdraw(workerId);
        } catch (RuntimeException e) {
            LOG.debug("Could not withdraw worker record", e);
        }
    }
}
