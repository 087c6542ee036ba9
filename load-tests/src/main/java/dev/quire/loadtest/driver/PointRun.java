package dev.quire.loadtest.driver;

import java.util.List;

/**
 * What one run measured.
 *
 * @param plan            the load it ran
 * @param results         every measured request, in the order they finished
 * @param startNanos      {@link System#nanoTime()} when the first measured request was sent
 * @param endNanos        when the last one finished
 * @param peakConcurrency most requests in flight at once
 * @param clientCpuNanos  CPU time this process used during the run (-1 when the JVM cannot tell)
 */
public record PointRun(LoadPlan plan, List<RequestResult> results, long startNanos, long endNanos,
                       int peakConcurrency, long clientCpuNanos) {
    public PointRun {
        results = List.copyOf(results);
    }

    /** Wall time of the run in seconds (at least 1 ns, so rates stay finite). */
    public double durationSeconds() {
        return Math.max(1, endNanos - startNanos) / 1e9;
    }
}
