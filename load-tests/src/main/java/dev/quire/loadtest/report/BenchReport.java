package dev.quire.loadtest.report;

import dev.quire.loadtest.driver.FaultInjector;

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
 */
public record BenchReport(String tool, String date, Map<String, Object> config, List<PointReport> points,
                          List<FaultInjector.Event> faults) {
    public BenchReport {
        points = List.copyOf(points);
        faults = List.copyOf(faults);
    }
}
