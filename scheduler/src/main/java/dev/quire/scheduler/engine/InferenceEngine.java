package dev.quire.scheduler.engine;

import dev.quire.scheduler.batch.SchedulerStats;

/**
 * Runs generation requests for one model: an engine in this process, or one reached over the
 * cluster's data plane. The gateway talks to every engine through this contract only. Thread-safe.
 */
public interface InferenceEngine extends AutoCloseable {
    /** The model this engine serves, as data. */
    ModelInfo model();

    /** The model's tokenizer. */
    TextCodec text();

    /** The engine's scheduler counters (summed over workers for a remote engine). */
    SchedulerStats stats();

    /**
     * Queues a request. Returns at once; output goes to {@code listener}, in order, from a thread
     * that is not the caller's.
     *
     * @throws InvalidRequestException if the request cannot run (prompt too long for the context,
     *                                 token id out of range, duplicate request id)
     * @throws EngineUnavailableException if the engine is shutting down or cannot take requests
     */
    RequestHandle submit(GenerationRequest request, GenerationListener listener);

    /** Stops the engine; requests still running are finished as ABORTED. */
    @Override
    void close();
}
