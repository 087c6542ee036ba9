/**
 * Quire's serving logic, in plain Java with no runtime dependencies: the paged KV cache bookkeeping
 * ({@link dev.quire.scheduler.kv}) and the continuous-batching step planner ({@link dev.quire.scheduler.batch}).
 *
 * <p>Everything here is single-threaded and deterministic: the engine loop owns one
 * {@link dev.quire.scheduler.batch.Scheduler} and calls it from one thread.
 */
package dev.quire.scheduler;
