package dev.quire.loadtest.workload;

/**
 * An endless, reproducible stream of requests: the same seed gives the same sequence. Not thread-safe; one
 * thread draws from it.
 */
public interface Workload {
    /** The next request. */
    RequestSpec next();
}
