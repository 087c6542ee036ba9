package dev.quire.scheduler.cluster;

import java.util.List;

/**
 * What a worker publishes to the cluster for placement and operators, refreshed several times a
 * second. Nothing here is trusted beyond routing: a forged record can misroute a request, and the
 * data plane's own authentication stops it there.
 *
 * @param workerId          the worker's cluster member id
 * @param address           its data-plane address, {@code host:port} ("in-process" in the all-in-one mode)
 * @param metricsAddress    where its engine metrics are scraped, {@code host:port}; empty when none
 * @param models            names of the models it serves
 * @param state             whether it takes new requests
 * @param kvBlocksTotal     KV cache blocks it has
 * @param kvBlocksUsed      blocks in use
 * @param blockSize         tokens per KV block (prefix hashes cover whole blocks of this size)
 * @param maxRunning        most sequences it runs at once (its batch capacity)
 * @param running           sequences running
 * @param waiting           sequences waiting
 * @param requestsCompleted requests it finished since it started
 * @param stepMillis        recent engine step time (exponential average), 0 when idle so far
 * @param prefixQueryTokens prompt tokens looked up in its prefix cache
 * @param prefixHitTokens   of those, tokens found
 * @param prefixHashes      chain hashes of KV blocks in its prefix cache (bounded; see {@link #MAX_PREFIX_HASHES})
 * @param version           increases with every publication
 */
public record WorkerRecord(String workerId, String address, String metricsAddress, List<String> models,
                           WorkerState state, int kvBlocksTotal, int kvBlocksUsed, int blockSize, int maxRunning,
                           int running,
                           int waiting, long requestsCompleted, double stepMillis, long prefixQueryTokens,
                           long prefixHitTokens, long[] prefixHashes, long version) {

    /** Most prefix-block hashes one record carries (at 16 tokens a block: 128K cached tokens). */
    public static final int MAX_PREFIX_HASHES = 8192;

    public WorkerRecord {
        models = List.copyOf(models);
        prefixHashes = prefixHashes.length > MAX_PREFIX_HASHES
                ? java.util.Arrays.copyOf(prefixHashes, MAX_PREFIX_HASHES) : prefixHashes.clone();
    }

    /** Share of prefix-cache lookups served from the cache, 0 before any lookup. */
    public double prefixHitRate() {
        return prefixQueryTokens == 0 ? 0.0 : (double) prefixHitTokens / prefixQueryTokens;
    }

    /** Free KV blocks. */
    public int kvBlocksFree() {
        return Math.max(0, kvBlocksTotal - kvBlocksUsed);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof WorkerRecord r && workerId.equals(r.workerId) && version == r.version;
    }

    @Override
    public int hashCode() {
        return workerId.hashCode() * 31 + Long.hashCode(version);
    }

    @Override
    public String toString() {
        return "WorkerRecord[" + workerId + " at " + address + ", " + state.label() + ", models " + models
                + ", running " + running + ", waiting " + waiting + ", kv " + kvBlocksUsed + "/" + kvBlocksTotal + "]";
    }
}
