package dev.quire.loadtest.report;

import dev.quire.loadtest.driver.FaultInjector;
import dev.quire.loadtest.driver.LoadPlan;
import dev.quire.loadtest.driver.Outcome;
import dev.quire.loadtest.driver.PointRun;
import dev.quire.loadtest.driver.RequestResult;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class HtmlReportTest {
    private static PointReport point(int concurrency, long ttftMs) {
        long ms = 1_000_000;
        RequestResult r = new RequestResult(0, 10 * ttftMs * ms, new long[]{ttftMs * ms, 2 * ttftMs * ms},
                new int[]{1, 1}, true, 8, 2, 2, "length", Outcome.COMPLETED, false, null, null);
        LoadPlan plan = new LoadPlan("concurrency=" + concurrency, Double.POSITIVE_INFINITY, 1, concurrency, 1, null,
                0, 0, Duration.ofMinutes(1));
        PointRun run = new PointRun(plan, List.of(r), 0, 1_000_000_000L / concurrency, concurrency, 1000);
        return new PointReport(plan.label(), plan.requestRate(), 1, concurrency,
                PointMetrics.of(run, new double[]{90, 99}, Slo.NONE), List.of());
    }

    @Test
    void sweepReportIsOneSelfContainedPageWithAChartPerLatency() {
        List<PointReport> points = new ArrayList<>();
        for (int c : new int[]{1, 4, 16}) {
            points.add(point(c, 10L * c));
        }
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("target", "grpc://localhost:50051");
        config.put("model", "m<&>");
        config.put("workload", "random");
        BenchReport report = new BenchReport("quire bench test", "2025-01-01T00:00:00Z", config, points,
                List.of(new FaultInjector.Event(1.5, "kill -9 1", true, "ok")));
        String html = HtmlReport.render(report, new double[]{90, 99});

        assertThat(html).startsWith("<!DOCTYPE html>").endsWith("</html>\n");
        assertThat(html).doesNotContain("<script").doesNotContain("src=").doesNotContain("href=");
        assertThat(html.replace("http://www.w3.org/2000/svg", "")).doesNotContain("http://").doesNotContain("https://");
        assertThat(html.split("<svg ", -1)).hasSize(5);
        assertThat(html).contains("Time to first token", "Time per output token", "Inter-token latency",
                "End-to-end latency", "concurrency=16", "p99", "m&lt;&amp;&gt;");
        assertThat(html.split("<polyline ", -1)).hasSize(1 + 4 * 3);
    }

    @Test
    void ticksAreRoundAndCoverTheMaximum() {
        assertThat(HtmlReport.ticks(689)).containsExactly(0, 100, 200, 300, 400, 500, 600, 700);
        assertThat(HtmlReport.ticks(0.9)).containsExactly(0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0);
        assertThat(HtmlReport.ticks(0)).containsExactly(0, 1);
        double[] t = HtmlReport.ticks(12345);
        assertThat(t[t.length - 1]).isGreaterThanOrEqualTo(12345);
        assertThat(t.length).isBetween(4, 12);
    }
}
