package dev.quire.scheduler.cluster;

import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.core.EntryEvent;
import com.hazelcast.map.listener.EntryAddedListener;
import com.hazelcast.map.listener.EntryEvictedListener;
import com.hazelcast.map.listener.EntryRemovedListener;
import com.hazelcast.map.listener.EntryUpdatedListener;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * A gateway's local view of the workers, kept current by the registry's entry events (a near
 * cache: reading it costs no remote call) and by membership events, which remove a dead worker at
 * once without waiting for its record to expire. Staleness is judged on this process's monotonic
 * clock: a record not refreshed within {@code staleAfter} is not offered for placement, whatever
 * the worker's wall clock says.
 */
public final class WorkerDirectory implements AutoCloseable {
    /** A record and when this process received it. */
    public record Entry(WorkerRecord record, long receivedAtNanos) {
    }

    private final WorkerRegistry registry;
    private final Duration staleAfter;
    private final Map<String, Entry> workers = new ConcurrentHashMap<>();
    /** Workers whose member left: ignored even if a late event brings their record back. */
    private final Set<String> departed = ConcurrentHashMap.newKeySet();
    private final List<Consumer<String>> departures = new CopyOnWriteArrayList<>();
    private final List<Consumer<WorkerRecord>> arrivals = new CopyOnWriteArrayList<>();
    private final UUID entryListener;
    private final UUID membershipListener;
    private final ClusterMember member;

    public WorkerDirectory(ClusterMember member, WorkerRegistry registry, Duration staleAfter) {
        this.member = member;
        this.registry = registry;
        this.staleAfter = staleAfter;
        this.entryListener = registry.map().addEntryListener(new Listener(), true);
        this.membershipListener = member.hazelcast().getCluster().addMembershipListener(new MembershipListener() {
            @Override
            public void memberAdded(MembershipEvent event) {
            }

            @Override
            public void memberRemoved(MembershipEvent event) {
                depart(event.getMember().getUuid().toString());
            }
        });
        for (WorkerRecord r : registry.workers()) {
            accept(r);
        }
    }

    private final class Listener implements EntryAddedListener<String, WorkerRecord>,
            EntryUpdatedListener<String, WorkerRecord>, EntryRemovedListener<String, WorkerRecord>,
            EntryEvictedListener<String, WorkerRecord> {
        @Override
        public void entryAdded(EntryEvent<String, WorkerRecord> event) {
            accept(event.getValue());
        }

        @Override
        public void entryUpdated(EntryEvent<String, WorkerRecord> event) {
            accept(event.getValue());
        }

        @Override
        public void entryRemoved(EntryEvent<String, WorkerRecord> event) {
            remove(event.getKey());
        }

        @Override
        public void entryEvicted(EntryEvent<String, WorkerRecord> event) {
            remove(event.getKey());
        }
    }

    private void accept(WorkerRecord record) {
        if (record == null || departed.contains(record.workerId())) {
            return;
        }
        Entry previous = workers.get(record.workerId());
        if (previous != null && previous.record().version() > record.version()) {
            return; // events of one key arrive in order; this guards a late initial read
        }
        workers.put(record.workerId(), new Entry(record, System.nanoTime()));
        if (previous == null) {
            arrivals.forEach(a -> a.accept(record));
        }
    }

    private void remove(String workerId) {
        if (workers.remove(workerId) != null) {
            departures.forEach(d -> d.accept(workerId));
        }
    }

    private void depart(String workerId) {
        departed.add(workerId);
        remove(workerId);
    }

    /** Calls {@code listener} with a worker's id when it leaves or dies. */
    public void onDeparture(Consumer<String> listener) {
        departures.add(listener);
    }

    /** Calls {@code listener} with a worker's first record. */
    public void onArrival(Consumer<WorkerRecord> listener) {
        arrivals.add(listener);
    }

    /** Every worker known, fresh or stale, ordered by id. */
    public List<Entry> all() {
        List<Entry> out = new ArrayList<>(workers.values());
        out.sort(Comparator.comparing(e -> e.record().workerId()));
        return out;
    }

    /** The record of one worker, or null. */
    public WorkerRecord get(String workerId) {
        Entry e = workers.get(workerId);
        return e == null ? null : e.record();
    }

    /** Whether this record was refreshed recently enough to place work on it. */
    public boolean isFresh(Entry entry) {
        return System.nanoTime() - entry.receivedAtNanos() <= staleAfter.toNanos();
    }

    /** Workers that serve {@code model}, are ready and fresh: the candidates for placement. */
    public List<WorkerRecord> candidates(String model) {
        List<WorkerRecord> out = new ArrayList<>();
        for (Entry e : workers.values()) {
            WorkerRecord r = e.record();
            if (r.state() == WorkerState.READY && r.models().contains(model) && isFresh(e)) {
                out.add(r);
            }
        }
        out.sort(Comparator.comparing(WorkerRecord::workerId));
        return out;
    }

    /** Names of the models some known worker serves, in order of first appearance by worker id. */
    public List<String> models() {
        List<String> out = new ArrayList<>();
        for (Entry e : all()) {
            for (String m : e.record().models()) {
                if (!out.contains(m)) {
                    out.add(m);
                }
            }
        }
        return out;
    }

    @Override
    public void close() {
        try {
            registry.map().removeEntryListener(entryListener);
            member.hazelcast().getCluster().removeMembershipListener(membershipListener);
        } catch (RuntimeException e) {
            // Hazelcast is already down.
        }
    }
}
