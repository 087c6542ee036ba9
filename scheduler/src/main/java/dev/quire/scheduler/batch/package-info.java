/**
 * Continuous batching: per-request {@link dev.quire.scheduler.batch.Sequence} state and the
 * {@link dev.quire.scheduler.batch.Scheduler} that, once per engine step, decides which tokens of which sequences to
 * compute ({@link dev.quire.scheduler.batch.StepPlan}) under a token budget and a sequence cap, with chunked prefill,
 * prefix caching and preemption by recompute.
 *
 * <p>The engine loop is: {@code plan()} → run the model over the plan's items → {@code commit(plan, sampled)} →
 * {@code finish(...)} the sequences that stopped → repeat while {@code hasWork()}.
 */
package dev.quire.scheduler.batch;
