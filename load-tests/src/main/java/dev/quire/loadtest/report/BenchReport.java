package dev.quire.loadtest.report;

import dev.quire.loadtest.driver.FaultInjector;
import dev.quire.loadtest.driver.RequestResult;

import java.util.List;
import java.util.Map;

/**
 * A whole benchmark: its configuration, one report per load point, and any injected faults.
 *
 * @param tool   tool name and version
 * @param date   when it ran (ISO-8601)
 * @param config every setting that shapes the numbers (target, model, workload, load, request options)
 * @param points the load points in the order they ran
 * @param faults injected faults, with times relative to the start of the first measured point
 * @param recoveries how the streams in flight at each fault recovered, one per fault, measured over
 *                   every request of the first point (whether or not the points keep their requests)
 */
public record BenchReport(String tool, String date, Map<String, Object> config, List<PointReport> points,
                          List<FaultInjector.Event> faults, List<FaultRecovery> recoveries) {
    public BenchReport {
        points = List.copyOf(points);
        faults = List.copyOf(faults);
        recoveries = List.copyOf(recoveries);
        if (recoveries.size() != faults.size()) {
            throw new IllegalArgumentException(recoveries.size() + " recoveries for " + faults.size() + " faults");
        }
    }

    /** A report whose recoveries are measured over the requests the first point kept. */
    public BenchReport(String tool, String date, Map<String, Object> config, List<PointReport> points,
                       List<FaultInjector.Event> faults) {
        this(tool, date, config, points, faults, recoveries(faults,
                points.isEmpty() ? List.of() : points.get(0).requests()));
    }

    /** How the streams among {@code requests} in flight at each of {@code faults} recovered. */
    public static List<FaultRecovery> recoveries(List<FaultInjector.Event> faults, List<RequestResult> requests) {
        return faults.stream().map(e -> FaultRecovery.of(e, requests)).toList();
    }
}
