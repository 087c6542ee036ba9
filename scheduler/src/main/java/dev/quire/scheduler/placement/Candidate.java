package dev.quire.scheduler.placement;

/**
 * A worker that could run a request, as placement sees it.
 *
 * @param workerId      the worker
 * @param running       sequences it runs (as it last published)
 * @param waiting       sequences waiting in its queue (as it last published)
 * @param pending       requests this gateway sent it since its record was published, net of those it saw
 *                      finish (fresher than the record's own counts)
 * @param kvBlocksTotal its KV cache size in blocks
 * @param kvBlocksFree  free KV blocks
 * @param cachedBlocks  leading blocks of this request's prompt it holds in its prefix cache
 */
public record Candidate(String workerId, int running, int waiting, int pending, int kvBlocksTotal, int kvBlocksFree,
                        int cachedBlocks) {

    /** Requests queued ahead of a new one: what a new request waits behind. */
    public int queueDepth() {
        return waiting + pending;
    }

    /** Share of the KV cache in use, in [0, 1]. */
    public double kvUsage() {
        return kvBlocksTotal == 0 ? 1.0 : 1.0 - (double) kvBlocksFree / kvBlocksTotal;
    }

    /**
     * One number for how busy the worker is: queued requests weigh most (they wait for a whole
     * step at least), running ones next, and a nearly full KV cache adds as if more were queued.
     */
    public double load() {
        return queueDepth() * 2.0 + running + Math.max(0.0, kvUsage() - 0.8) * 50.0;
    }
}
