package dev.quire.worker.service;

import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.cluster.ClusterMember;
import dev.quire.scheduler.cluster.ClusterSettings;
import dev.quire.scheduler.cluster.WorkerRecord;
import dev.quire.scheduler.cluster.WorkerRegistry;
import dev.quire.scheduler.cluster.WorkerState;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.TextCodec;
import dev.quire.scheduler.engine.TokenVocabulary;
import dev.quire.worker.engine.EngineHealth;
import dev.quire.worker.engine.WorkerEngine;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Optional;
import java.util.UUID;
import java.util.function.Predicate;

import static org.assertj.core.api.Assertions.assertThat;

/** The worker's record in the registry: ready, not ready while the engine is not alive, and draining for good. */
class WorkerPresenceTest {
    static ClusterMember member;
    static WorkerRegistry registry;

    @BeforeAll
    static void start() {
        member = ClusterMember.start(ClusterSettings.standalone("presence-" + UUID.randomUUID()),
                java.util.Map.of());
        registry = new WorkerRegistry(member);
    }

    @AfterAll
    static void stop() {
        if (registry != null) {
            registry.close();
        }
        if (member != null) {
            member.close();
        }
    }

    /** An engine whose liveness and counters the test sets. */
    static final class FakeEngine implements WorkerEngine {
        volatile boolean alive = true;
        volatile SchedulerStats stats = new SchedulerStats(2, 1, 5, 64, 100, 40, 0, 0, 0);
        final ModelInfo info = new ModelInfo("fake", 4, 128, null, null, null,
                new TokenVocabulary(new String[]{"a", "b", "c", "d"}, new boolean[4], TokenVocabulary.Decoding.PLAIN));

        @Override
        public EngineHealth health() {
            return new EngineHealth(alive, 7, 1.5, new long[]{11, 22});
        }

        @Override
        public int blockSize() {
            return 16;
        }

        @Override
        public int maxRunning() {
            return 8;
        }

        @Override
        public ModelInfo model() {
            return info;
        }

        @Override
        public TextCodec text() {
            throw new UnsupportedOperationException();
        }

        @Override
        public SchedulerStats stats() {
            return stats;
        }

        @Override
        public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void close() {
        }
    }

    static Optional<WorkerRecord> record(String workerId) {
        return registry.workers().stream().filter(r -> r.workerId().equals(workerId)).findFirst();
    }

    /** Waits for the periodic publication to show {@code expected}; fails after a generous bound. */
    static WorkerRecord awaitRecord(String workerId, Predicate<WorkerRecord> expected, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        Optional<WorkerRecord> r = record(workerId);
        while (!(r.isPresent() && expected.test(r.get())) && System.nanoTime() < deadline) {
            Thread.sleep(10);
            r = record(workerId);
        }
        assertThat(r).as(what).isPresent();
        assertThat(expected.test(r.get())).as(what + ", got " + r.get()).isTrue();
        return r.get();
    }

    @Test
    void readyThenNotReadyWhileTheEngineIsNotAliveThenDrainingForGoodThenWithdrawn() throws Exception {
        FakeEngine engine = new FakeEngine();
        String id = "worker-" + UUID.randomUUID();
        WorkerPresence presence = new WorkerPresence(registry, id, "10.0.0.9:7000", "10.0.0.9:9000", engine);
        try {
            // Published at once on start, with what the engine reports.
            WorkerRecord first = record(id).orElseThrow();
            assertThat(first.state()).isEqualTo(WorkerState.READY);
            assertThat(presence.state()).isEqualTo(WorkerState.READY);
            assertThat(first.address()).isEqualTo("10.0.0.9:7000");
            assertThat(first.metricsAddress()).isEqualTo("10.0.0.9:9000");
            assertThat(first.models()).containsExactly("fake");
            assertThat(first.kvBlocksTotal()).isEqualTo(64);
            assertThat(first.kvBlocksUsed()).isEqualTo(5);
            assertThat(first.running()).isEqualTo(2);
            assertThat(first.waiting()).isEqualTo(1);
            assertThat(first.blockSize()).isEqualTo(16);
            assertThat(first.maxRunning()).isEqualTo(8);
            assertThat(first.requestsCompleted()).isEqualTo(7);
            assertThat(first.prefixHashes()).containsExactly(11, 22);

            // The engine dies or stalls: the state says so at once, the record with the next refresh.
            engine.alive = false;
            assertThat(presence.state()).isEqualTo(WorkerState.NOT_READY);
            WorkerRecord notReady = awaitRecord(id, r -> r.state() == WorkerState.NOT_READY, "not ready");
            assertThat(notReady.version()).isGreaterThan(first.version());

            // A stall that clears makes the worker ready again.
            engine.alive = true;
            assertThat(presence.state()).isEqualTo(WorkerState.READY);
            WorkerRecord again = awaitRecord(id, r -> r.state() == WorkerState.READY, "ready again");
            assertThat(again.version()).isGreaterThan(notReady.version());

            // Draining is published before startDraining returns, and wins over liveness from then on.
            presence.startDraining();
            assertThat(record(id).orElseThrow().state()).isEqualTo(WorkerState.DRAINING);
            assertThat(presence.state()).isEqualTo(WorkerState.DRAINING);
            engine.alive = false;
            assertThat(presence.state()).isEqualTo(WorkerState.DRAINING);
            long drainingVersion = record(id).orElseThrow().version();
            WorkerRecord later = awaitRecord(id, r -> r.version() > drainingVersion, "a later refresh");
            assertThat(later.state()).isEqualTo(WorkerState.DRAINING);
        } finally {
            presence.close();
        }
        assertThat(record(id)).as("closing withdraws the record").isEmpty();
    }
}
