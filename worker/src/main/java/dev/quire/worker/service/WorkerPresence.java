package dev.quire.worker.service;

import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.cluster.WorkerRecord;
import dev.quire.scheduler.cluster.WorkerRegistry;
import dev.quire.scheduler.cluster.WorkerState;
import dev.quire.worker.engine.EngineHealth;
import dev.quire.worker.engine.WorkerEngine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Publishes this worker's record to the cluster's registry: at once on start and on a change of
 * state, and every {@link #PERIOD_MILLIS} ms otherwise. The record says {@code not_ready} when the
 * engine thread died or stalled, and {@code draining} once the worker stops taking requests.
 */
public final class WorkerPresence implements AutoCloseable {
    /** How often the record is refreshed; gateways consider a record stale after a few periods. */
    public static final long PERIOD_MILLIS = 250;
    private static final Logger LOG = LoggerFactory.getLogger(WorkerPresence.class);

    private final WorkerRegistry registry;
    private final String workerId;
    private final String address;
    private final String metricsAddress;
    private final WorkerEngine engine;
    private final ScheduledExecutorService timer;
    private volatile boolean draining;
    private long version;
    private WorkerState lastState;

    public WorkerPresence(WorkerRegistry registry, String workerId, String address, String metricsAddress,
                          WorkerEngine engine) {
        this.registry = registry;
        this.workerId = workerId;
        this.address = address;
        this.metricsAddress = metricsAddress;
        this.engine = engine;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "quire-worker-presence");
            t.setDaemon(true);
            return t;
        });
        publish();
        timer.scheduleAtFixedRate(this::publishQuietly, PERIOD_MILLIS, PERIOD_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** Stops placements on this worker: its record says draining from now on. */
    public void startDraining() {
        draining = true;
        try {
            timer.submit(this::publishQuietly).get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("Could not publish the draining state: {}", e.toString());
        }
    }

    /** The state this worker publishes now. */
    public WorkerState state() {
        return draining ? WorkerState.DRAINING : engine.health().alive() ? WorkerState.READY : WorkerState.NOT_READY;
    }

    private void publishQuietly() {
        try {
            publish();
        } catch (RuntimeException e) {
            LOG.warn("Could not publish this worker's state: {}", e.toString());
        }
    }

    private synchronized void publish() {
        SchedulerStats s = engine.stats();
        EngineHealth h = engine.health();
        WorkerState state = draining ? WorkerState.DRAINING : h.alive() ? WorkerState.READY : WorkerState.NOT_READY;
        if (state != lastState) {
            if (state == WorkerState.NOT_READY) {
                LOG.error("The engine thread died or stalled; this worker is not ready");
            }
            lastState = state;
        }
        registry.publish(new WorkerRecord(workerId, address, metricsAddress, List.of(engine.model().name()), state,
                s.kvBlocksTotal(), s.kvBlocksUsed(), engine.blockSize(), engine.maxRunning(), s.running(), s.waiting(),
                h.requestsCompleted(), h.stepMillis(), s.prefixCacheQueryTokens(), s.prefixCacheHitTokens(),
                h.prefixHashes(), ++version));
    }

    @Override
    public void close() {
        timer.shutdownNow();
        try {
            registry.withdraw(workerId);
        } catch (RuntimeException e) {
            LOG.debug("Could not withdraw the worker record", e);
        }
    }
}
