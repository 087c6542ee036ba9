package dev.quire.scheduler.cluster;

import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.map.IMap;

import java.util.List;
import java.util.UUID;

/**
 * The cluster-wide view of workers, an IMap keyed by member id. Each worker republishes its own
 * record; when a member leaves, the survivors drop its record so placement never picks it.
 */
public final class WorkerRegistry {
    public static final String MAP_NAME = "quire.workers";

    private final IMap<String, WorkerInfo> workers;
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
                workers.remove(event.getMember().getUuid().toString());
            }
        });
    }

    public void publish(WorkerInfo info) {
        workers.set(info.workerId(), info);
    }

    public List<WorkerInfo> workers() {
        return List.copyOf(workers.values());
    }

    public void withdraw(String workerId) {
        workers.remove(workerId);
    }

    public void close() {
        member.hazelcast().getCluster().removeMembershipListener(listener);
    }
}
