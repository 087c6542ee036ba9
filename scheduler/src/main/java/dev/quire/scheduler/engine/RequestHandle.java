package dev.quire.scheduler.engine;

/** A submitted request. */
public interface RequestHandle {
    String requestId();

    /**
     * Aborts the request: its KV blocks are freed in the next engine step and its listener gets
     * {@code onFinish(ABORTED, ...)} unless it had already finished. Safe to call more than once.
     */
    void cancel();

    /** A handle whose cancel runs {@code onCancel}. */
    static RequestHandle of(String requestId, Runnable onCancel) {
        return new RequestHandle() {
            @Override
            public String requestId() {
                return requestId;
            }

            @Override
            public void cancel() {
                onCancel.run();
            }
        };
    }
}
