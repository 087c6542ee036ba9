package dev.quire.scheduler.cluster;

import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.map.IMap;

import java.util.List;
import java.util.UUID;

/**
 * The cluster-wide table of workers, an IMap keyed by worker id (its member id). Each worker
 * republishes its own record; when a member leaves, the survivors drop its record so that nobody
 * places work on it.
 */
public final class WorkerRegistry implements AutoCloseable {
    public static final String MAP_NAME = "quire.workers";

    private final IMap<String, WorkerRecord> workers;
    private final UUID listener;
    private final ClusterMember member;

    public WorkerRegistry(ClusterMember member) {
        this.member = member;
        this.workers = member.hazelcast().getMap(MAP_NAME);
        this.listener = member.hazelcast().getCluster().addMembershipListener(new MembershipListener() {
            @Override
            public void memberAdded(MembershipEvent event) {
            }

            @Override
            public void memberRemoved(MembershipEvent event) {
                try {
                    workers.delete(event.getMember().getUuid().toString());
                } catch (RuntimeException e) {
                    // This member is shutting down too; the others clean up.
                }
            }
        });
    }

    /** The map every gateway reads. */
    IMap<String, WorkerRecord> map() {
        return workers;
    }

    public void publish(WorkerRecord record) {
        workers.set(record.workerId(), record);
    }

    /** Every record, as the map holds it now (one remote call per partition owner: not for hot paths). */
    public List<WorkerRecord> workers() {
        return List.copyOf(workers.values());
    }

    public void withdraw(String workerId) {
        workers.delete(workerId);
    }

    @Override
    public void close() {
        member.hazelcast().getCluster().removeMembershipListener(listener);
    }
}
