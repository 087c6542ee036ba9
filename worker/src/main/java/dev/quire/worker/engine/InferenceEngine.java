package dev.quire.worker.engine;

import dev.quire.worker.model.ServedModel;

/** Runs generation requests for one model. Thread-safe. */
public interface InferenceEngine extends AutoCloseable {
    /** The model this engine serves, with its tokenizer and limits. */
    ServedModel model();

    /**
     * Queues a request. Returns at once; output goes to {@code listener} from the engine's thread.
     *
     * @throws InvalidRequestException if the request cannot run (prompt too long for the context,
     *                                 token id out of range, duplicate request id)
     */
    RequestHandle submit(GenerationRequest request, GenerationListener listener);

    /** Stops the engine loop; requests still running are finished as ABORTED. */
    @Override
    void close();
}
