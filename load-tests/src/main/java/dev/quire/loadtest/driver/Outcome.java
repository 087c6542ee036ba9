package dev.quire.loadtest.driver;

/** How a request ended. */
public enum Outcome {
    /** Ended normally with a finish reason (stop, length, stop string). */
    COMPLETED,
    /** Got an error: connection refused or lost, an error status, a timeout. */
    FAILED,
    /**
     * The stream ended cleanly but early: without a finish reason, or with the reason ABORTED. The client
     * would not notice unless it checked.
     */
    TRUNCATED
}
