package dev.quire.scheduler.cluster;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/** A gateway member and worker members in this JVM, on loopback: what each side sees of the other. */
class WorkerDirectoryTest {
    final String name = "test-" + UUID.randomUUID();
    final List<ClusterMember> members = new ArrayList<>();

    @AfterEach
    void shutdown() {
        members.forEach(ClusterMember::close);
    }

    ClusterMember member(boolean lite, int port) {
        ClusterMember m = ClusterMember.start(new ClusterSettings(name, "127.0.0.1", port,
                List.of("127.0.0.1:" + 15_901), lite, null));
        members.add(m);
        return m;
    }

    static WorkerRecord record(String id, WorkerState state, long version, long... hashes) {
        return new WorkerRecord(id, "127.0.0.1:9000", "127.0.0.1:9001", List.of("m"), state, 100, 10, 16, 64, 2, 1,
                7, 3.5, 64, 32, hashes, version);
    }

    static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition not met within 30 s").isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    @Test
    void recordsTravelAsCompactDataAndAWorkerThatLeavesIsGoneAtOnce() throws Exception {
        ClusterMember gateway = member(false, 15_901);
        ClusterMember worker = member(true, 15_911);
        WorkerDirectory directory = new WorkerDirectory(gateway, new WorkerRegistry(gateway), Duration.ofSeconds(3));
        List<String> departed = new CopyOnWriteArrayList<>();
        directory.onDeparture(departed::add);

        WorkerRegistry workerSide = new WorkerRegistry(worker);
        String id = worker.memberId();
        workerSide.publish(record(id, WorkerState.READY, 1, 11, 22));
        await(() -> directory.get(id) != null);
        WorkerRecord seen = directory.get(id);
        assertThat(seen.prefixHashes()).containsExactly(11, 22);
        assertThat(seen.prefixHitRate()).isEqualTo(0.5);
        assertThat(directory.candidates("m")).extracting(WorkerRecord::workerId).containsExactly(id);
        assertThat(directory.candidates("other")).isEmpty();

        workerSide.publish(record(id, WorkerState.DRAINING, 2));
        await(() -> directory.get(id).version() == 2);
        assertThat(directory.candidates("m")).as("a draining worker takes no new requests").isEmpty();

        // Killed without a goodbye: the membership event removes it, no record expiry needed.
        worker.hazelcast().getLifecycleService().terminate();
        await(() -> directory.get(id) == null);
        // Listeners are told right after the record is removed, on Hazelcast's event thread.
        await(() -> !departed.isEmpty());
        assertThat(departed).containsExactly(id);
        // The survivors also delete its record from the shared map (asynchronously).
        await(() -> !gateway.hazelcast().getMap(WorkerRegistry.MAP_NAME).containsKey(id));
    }

    @Test
    void aRecordNotRefreshedWithinTheStalenessBoundIsNotOffered() throws Exception {
        ClusterMember gateway = member(false, 15_901);
        WorkerRegistry registry = new WorkerRegistry(gateway);
        WorkerDirectory directory = new WorkerDirectory(gateway, registry, Duration.ofMillis(300));
        registry.publish(record("w1", WorkerState.READY, 1));
        await(() -> !directory.candidates("m").isEmpty());
        await(() -> directory.candidates("m").isEmpty());
        assertThat(directory.all()).hasSize(1);
        assertThat(directory.isFresh(directory.all().get(0))).isFalse();
        registry.publish(record("w1", WorkerState.READY, 2));
        await(() -> !directory.candidates("m").isEmpty());
    }

    @Test
    void membersListenOnTheConfiguredInterfaceOnly() throws Exception {
        ClusterMember gateway = member(false, 15_901);
        int port = gateway.hazelcast().getCluster().getLocalMember().getAddress().getPort();
        // The kernel's own table of listening sockets (what `ss -ltn` reads): 127.0.0.1, not 0.0.0.0.
        List<String> listening = ListeningSockets.addressesOn(port);
        assertThat(listening).containsExactly("127.0.0.1");
    }
}
