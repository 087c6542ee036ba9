package dev.quire.scheduler.batch;

import java.util.List;

/**
 * What the engine computes in one step.
 *
 * @param stepIndex   increases by one with every {@link Scheduler#plan()}, starting at 0
 * @param items       the scheduled sequences: running ones first (in running order), then newly admitted ones
 * @param preempted   request ids preempted while planning this step (their K/V is gone; they will be recomputed)
 * @param totalTokens sum of the items' token counts, at most {@code maxBatchedTokens}
 */
public record StepPlan(long stepIndex, List<ScheduledSequence> items, List<String> preempted, int totalTokens) {

    public StepPlan {
        items = List.copyOf(items);
        preempted = List.copyOf(preempted);
    }

    /** Whether there is nothing to compute this step. */
    public boolean isEmpty() {
        return items.isEmpty();
    }
}
