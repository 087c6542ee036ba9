package dev.quire.gateway.cluster;

/** What placement reports for metrics. Called from event loops; implementations must be cheap. */
public interface PlacementObserver {
    /** A request was sent to {@code workerId}, whose prefix cache held {@code cachedBlocks} of its prompt's blocks. */
    void placed(String workerId, int cachedBlocks);

    /** A request refused or lost by {@code workerId} before its first token is run elsewhere. */
    void retried(String workerId);

    /** A request lost with {@code workerId} after some of its tokens were delivered continues elsewhere. */
    void migrated(String workerId);
}
