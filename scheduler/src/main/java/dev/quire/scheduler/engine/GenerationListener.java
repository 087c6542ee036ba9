package dev.quire.scheduler.engine;

import dev.quire.scheduler.engine.FinishReason;

/**
 * Receives one request's output. Called on the engine's thread, in order, never concurrently for
 * one request: implementations must return quickly and hand work to their own thread or event loop.
 */
public interface GenerationListener {
    /** The request left the waiting queue: an engine step is computing it for the first time. */
    default void onScheduled() {
    }

    /** The request was sent to worker {@code workerId} (remote engines only; again after a migration). */
    default void onPlaced(String workerId) {
    }

    /**
     * The worker running the request was lost (remote engines only) and the request continues on
     * another one from the tokens already delivered; output goes on as if uninterrupted.
     */
    default void onMigrated(String lostWorker) {
    }

    /**
     * New tokens since the previous call. {@code text} is their decoded text; it may be empty while
     * the tokens do not yet form whole characters, or while it could be the start of a stop string.
     * {@code logprobs} is null unless the request asked for them (one entry per token).
     */
    void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs);

    /** The last call for a request that ended normally or was aborted. */
    void onFinish(FinishReason reason, int promptTokens, int completionTokens);

    /** The last call for a request that failed inside the engine. */
    void onError(Throwable error);
}
