package dev.quire.scheduler.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.IMap;
import dev.quire.scheduler.engine.GeneratedOutput;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * The request ledger: every request in flight in the cluster, and every finished one for a while,
 * in Hazelcast maps held by the gateways (workers are lite members and hold no data) with one
 * backup each, so an entry outlives the gateway that wrote it.
 *
 * <p>{@value #RUNNING_MAP} holds running requests; their gateway appends what it delivered in
 * batches ({@link AppendOutput}, run where the entry is stored). A finished request moves to
 * {@value #RESULTS_MAP} with a time to live, where Hazelcast evicts the least recently used entries
 * beyond a heap bound ({@link ClusterMember}). Every call here is asynchronous: none blocks an
 * event loop.
 */
public final class RequestLedger {
    public static final String RUNNING_MAP = "quire.requests";
    public static final String RESULTS_MAP = "quire.results";

    private final ClusterMember member;
    private final IMap<String, LedgerEntry> running;
    private final IMap<String, LedgerEntry> results;

    public RequestLedger(ClusterMember member) {
        this.member = member;
        this.running = member.hazelcast().getMap(RUNNING_MAP);
        this.results = member.hazelcast().getMap(RESULTS_MAP);
    }

    /** This gateway's member id: the owner it writes into the entries it opens. */
    public String memberId() {
        return member.memberId();
    }

    /** Whether {@code memberId} is a member of the cluster now (a gateway that died is not, once noticed). */
    public boolean isMember(String memberId) {
        for (Member m : member.hazelcast().getCluster().getMembers()) {
            if (m.getUuid().toString().equals(memberId)) {
                return true;
            }
        }
        return false;
    }

    /** The request's entry, running or finished; null when the ledger holds none. */
    public CompletionStage<LedgerEntry> find(String requestId) {
        return running.getAsync(requestId).thenCompose(e -> e != null
                ? CompletableFuture.completedFuture(e) : results.getAsync(requestId));
    }

    /**
     * Records a new running request, unless its id is taken.
     *
     * @return null when recorded; else the entry that holds the id (running, or finished and kept)
     */
    public CompletionStage<LedgerEntry> open(LedgerEntry entry) {
        return results.getAsync(entry.requestId()).thenCompose(done -> done != null
                ? CompletableFuture.completedFuture(done) : openFresh(entry));
    }

    /**
     * Records a new running request whose id was just made up, unique (a random UUID), so no
     * finished result can hold it: one round trip instead of two.
     *
     * @return null when recorded; else the running entry that holds the id
     */
    public CompletionStage<LedgerEntry> openFresh(LedgerEntry entry) {
        return running.submitToKey(entry.requestId(), new Open(entry));
    }

    /**
     * Appends output delivered by {@code gateway}; false (and nothing changed) when the entry is
     * gone, owned by another gateway, or does not hold exactly {@code expectedSize} tokens.
     */
    public CompletionStage<Boolean> append(String requestId, AppendOutput append) {
        return running.submitToKey(requestId, append);
    }

    /** The request finished: its whole result is kept for {@code ttl}, and it leaves the running map. */
    public CompletionStage<Void> finish(LedgerEntry finished, Duration ttl) {
        return results.setAsync(finished.requestId(), finished, Math.max(1, ttl.toMillis()), TimeUnit.MILLISECONDS)
                .thenCompose(v -> running.deleteAsync(finished.requestId())).thenApply(b -> null);
    }

    /** The request ended without a result worth keeping (aborted, failed): its id is free again. */
    public CompletionStage<Void> forget(String requestId) {
        return running.deleteAsync(requestId).thenApply(b -> null);
    }

    /**
     * Makes {@code to} the owner of a running request owned by {@code from} (a gateway that left).
     *
     * @return the entry as it is now: owned by {@code to} when the take-over happened; null when gone
     */
    public CompletionStage<LedgerEntry> takeOver(String requestId, String from, String to) {
        return running.submitToKey(requestId, new TakeOver(from, to));
    }

    /** Sets the entry when the key holds none; returns null then, else the entry the key holds. */
    record Open(LedgerEntry entry) implements EntryProcessor<String, LedgerEntry, LedgerEntry> {
        @Override
        public LedgerEntry process(Map.Entry<String, LedgerEntry> e) {
            if (e.getValue() != null) {
                return e.getValue();
            }
            e.setValue(entry);
            return null;
        }
    }

    /**
     * Output delivered since the last append, by the owning gateway, on {@code worker} ("" for
     * unchanged). Applied only to an entry of exactly {@code expectedSize} tokens, so a lost or
     * reordered batch can never leave a gap or a repeat: the entry's output is always a prefix of
     * what the client received.
     */
    public record AppendOutput(String gateway, String worker, int expectedSize, GeneratedOutput more)
            implements EntryProcessor<String, LedgerEntry, Boolean> {
        @Override
        public Boolean process(Map.Entry<String, LedgerEntry> e) {
            LedgerEntry current = e.getValue();
            if (current == null || !current.gateway().equals(gateway) || current.output().size() != expectedSize) {
                return false;
            }
            e.setValue(current.appended(worker.isEmpty() ? null : worker, more));
            return true;
        }
    }

    /** Moves ownership from {@code from} to {@code to}; returns the entry as it is after. */
    record TakeOver(String from, String to) implements EntryProcessor<String, LedgerEntry, LedgerEntry> {
        @Override
        public LedgerEntry process(Map.Entry<String, LedgerEntry> e) {
            LedgerEntry current = e.getValue();
            if (current == null || !current.gateway().equals(from)) {
                return current;
            }
            LedgerEntry taken = current.ownedBy(to);
            e.setValue(taken);
            return taken;
        }
    }
}
