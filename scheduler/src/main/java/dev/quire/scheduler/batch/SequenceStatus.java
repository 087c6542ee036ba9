package dev.quire.scheduler.batch;

/** Where a {@link Sequence} is in its life cycle. */
public enum SequenceStatus {
    /** Added, never admitted yet; holds no KV blocks. */
    WAITING,
    /** Admitted: holds KV blocks and is scheduled every step the budget allows. */
    RUNNING,
    /** Evicted to free KV blocks; holds none, keeps its output, and will be recomputed when re-admitted. */
    PREEMPTED,
    /** Done for good (see {@link Sequence#finishReason()}); holds no KV blocks. */
    FINISHED
}
