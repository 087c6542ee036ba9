package dev.quire.worker.engine;

/**
 * What a worker publishes about its engine besides the scheduler's counters.
 *
 * @param alive             the engine thread runs and has not stalled (busy with no step finished for 60 s)
 * @param requestsCompleted requests finished (any reason) since start
 * @param stepMillis        recent step time, exponentially averaged
 * @param prefixHashes      chain values of blocks in the prefix cache (a recent copy)
 */
public record EngineHealth(boolean alive, long requestsCompleted, double stepMillis, long[] prefixHashes) {
}
