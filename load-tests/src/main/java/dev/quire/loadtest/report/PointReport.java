package dev.quire.loadtest.report;

import dev.quire.loadtest.driver.RequestResult;

import java.util.List;

/**
 * One point of a benchmark (one load level) with its aggregates.
 *
 * @param label          e.g. {@code concurrency=4} or {@code rate=2}
 * @param requestRate    requests per second (infinite: as fast as the concurrency allows)
 * @param burstiness     gamma shape of arrivals
 * @param maxConcurrency concurrency limit, 0 for none
 * @param metrics        the aggregates
 * @param requests       every request's own record, or an empty list when not kept
 */
public record PointReport(String label, double requestRate, double burstiness, int maxConcurrency,
                          PointMetrics metrics, List<RequestResult> requests) {
    public PointReport {
        requests = List.copyOf(requests);
    }
}
