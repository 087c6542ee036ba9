package dev.quire.scheduler.cluster;

/** Whether a worker takes new requests. */
public enum WorkerState {
    /** Takes new requests. */
    READY,
    /** Finishing its requests before it leaves: takes no new ones. */
    DRAINING,
    /** Its engine is stalled or dead: takes no new ones. */
    NOT_READY;

    /** The name used in JSON and logs: {@code ready}, {@code draining}, {@code not_ready}. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
