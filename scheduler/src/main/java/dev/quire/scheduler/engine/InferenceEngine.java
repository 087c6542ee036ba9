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
     * Whether the engine can run requests now: for an engine in this process, its thread runs and
     * has not stalled; for one reached over the cluster, at least one ready worker serves the model.
     * A gateway's readiness and gRPC health follow it. This default suits engines with no such state.
     */
    default boolean alive() {
        return true;
    }

    /**
     * Queues a request. Returns at once; output goes to {@code listener}, in order, from a thread
     * that is not the caller's.
     *
     * @throws InvalidRequestException if the request cannot run (prompt too long for the context,
     *                                 token id out of range, duplicate request id)
     * @throws EngineUnavailableException if the engine is shutting down or cannot take requests
     */
    RequestHandle submit(GenerationRequest request, GenerationListener listener);

    /**
     * Continues a request another gateway started and lost (it died mid-stream): {@code delivered}
     * is the output its client had received, as the request ledger recorded it, and
     * {@code request} the request as first admitted (its seed fixed). The listener gets that
     * output again, then the rest, exactly as an uninterrupted run would have produced it.
     * {@code lastWorker} names the worker it last ran on ("" if unknown): a remote engine may take
     * the running generation over there instead of resuming it. This default resumes it here.
     */
    default RequestHandle resume(GenerationRequest request, String lastWorker, GeneratedOutput delivered,
                                 GenerationListener listener) {
        listener.onScheduled();
        if (delivered.size() > 0) {
            listener.onTokens(delivered.tokenIds(), delivered.text(), delivered.logprobs());
        }
        FinishReason ended = request.endedBy(delivered.tokenIds(), model().maxModelLen());
        if (ended != null) {
            listener.onFinish(ended, request.promptTokenIds().length, delivered.size());
            return RequestHandle.of(request.requestId(), () -> { });
        }
        GenerationRequest rest = delivered.size() == 0 ? request : request.resumedWith(delivered.tokenIds());
        return submit(rest, new GenerationListener() {
            @Override
            public void onScheduled() {
                // told above
            }

            @Override
            public void onMigrated(String lostWorker) {
                listener.onMigrated(lostWorker);
            }

            @Override
            public void onPlaced(String workerId) {
                listener.onPlaced(workerId);
            }

            @Override
            public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
                listener.onTokens(tokenIds, text, logprobs);
            }

            @Override
            public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
                listener.onFinish(reason, request.promptTokenIds().length, completionTokens);
            }

            @Override
            public void onError(Throwable error) {
                listener.onError(error);
            }
        });
    }

    /** Stops the engine; requests still running are finished as ABORTED. */
    @Override
    void close();
}
