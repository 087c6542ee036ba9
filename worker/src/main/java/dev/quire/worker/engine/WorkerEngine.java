package dev.quire.worker.engine;

import dev.quire.scheduler.engine.InferenceEngine;

/** An engine a worker process runs and publishes to the cluster. */
public interface WorkerEngine extends InferenceEngine {
    /** Liveness, completions, step time and prefix-cache contents, for the worker's record. */
    EngineHealth health();

    /** The engine thread runs and has not stalled: {@link EngineHealth#alive()}. */
    @Override
    default boolean alive() {
        return health().alive();
    }

    /** Tokens per KV block (the prefix hashes cover whole blocks of this size). */
    int blockSize();

    /** Most sequences it runs at once; more wait in its queue. */
    int maxRunning();

    /**
     * Stops running requests (each still held finishes as aborted, with its final event) and refuses
     * new ones, keeping what a caller may still use (the tokenizer, native memory) until {@link #close()}.
     * An engine with nothing to keep closes.
     */
    default void stop() {
        close();
    }
}
