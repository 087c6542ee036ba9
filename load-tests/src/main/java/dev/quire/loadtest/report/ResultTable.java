package dev.quire.loadtest.report;

import dev.quire.loadtest.driver.FaultInjector;

import java.util.Locale;
import java.util.Map;

/** The final table, laid out like vLLM's so the two read side by side. */
public final class ResultTable {
    private static final int WIDTH = 50;

    private ResultTable() {
    }

    /** The full report: each point's block, then {@link #tail}. */
    public static String render(BenchReport report, double[] percentiles) {
        StringBuilder sb = new StringBuilder();
        for (PointReport point : report.points()) {
            sb.append(point(point, percentiles));
        }
        return sb.append(tail(report, percentiles)).toString();
    }

    /** What follows the point blocks: the injected faults, and a one-line-per-point summary for a sweep. */
    public static String tail(BenchReport report, double[] percentiles) {
        StringBuilder sb = new StringBuilder();
        if (!report.faults().isEmpty()) {
            sb.append(rule("Injected faults"));
            for (int i = 0; i < report.faults().size(); i++) {
                FaultInjector.Event e = report.faults().get(i);
                sb.append(String.format(Locale.ROOT, "t=%.2fs %s: %s%n", e.atSeconds(), e.action(),
                        (e.ok() ? "" : "FAILED: ") + e.detail()));
                if (!report.points().isEmpty()) {
                    FaultRecovery r = report.recoveries().get(i);
                    sb.append(String.format(Locale.ROOT, "  streams in flight: %d, resumed: %d; pause until the "
                                    + "next token (ms): p50 %.1f, p99 %.1f, max %.1f%n", r.inFlight(), r.resumed(),
                            r.percentile(50), r.percentile(99), r.percentile(100)));
                }
            }
            sb.append("=".repeat(WIDTH)).append('\n');
        }
        if (report.points().size() > 1) {
            sb.append(summary(report, percentiles));
        }
        return sb.toString();
    }

    /** One point, vLLM's block layout plus failure, truncation, duplicate and client-CPU lines. */
    public static String point(PointReport point, double[] percentiles) {
        PointMetrics m = point.metrics();
        StringBuilder sb = new StringBuilder();
        sb.append(center(" Serving Benchmark Result ", '=')).append('\n');
        line(sb, "Load", point.label());
        line(sb, "Successful requests", integer(m, "completed"));
        line(sb, "Failed requests", integer(m, "failed"));
        line(sb, "Truncated requests", integer(m, "truncated"));
        line(sb, "Requests with duplicated tokens", integer(m, "duplicated"));
        if (m.get("retried") > 0) {
            line(sb, "Requests resent on a new connection", integer(m, "retried"));
        }
        line(sb, "Benchmark duration (s)", num(m.get("duration")));
        line(sb, "Total input tokens", integer(m, "total_input_tokens"));
        line(sb, "Total generated tokens", integer(m, "total_output_tokens"));
        line(sb, "Request throughput (req/s)", num(m.get("request_throughput")));
        if (m.values().get("request_goodput") != null) {
            line(sb, "Request goodput (req/s)", num(m.get("request_goodput")));
        }
        line(sb, "Output token throughput (tok/s)", num(m.get("output_throughput")));
        line(sb, "Peak output token throughput (tok/s)", num(m.get("max_output_tokens_per_s")));
        line(sb, "Peak concurrent requests", integer(m, "max_concurrent_requests"));
        line(sb, "Total Token throughput (tok/s)", num(m.get("total_token_throughput")));
        latency(sb, m, "ttft", "TTFT", "Time to First Token", percentiles);
        latency(sb, m, "tpot", "TPOT", "Time per Output Token (excl. 1st token)", percentiles);
        latency(sb, m, "itl", "ITL", "Inter-token Latency", percentiles);
        latency(sb, m, "e2el", "E2EL", "End-to-end Latency", percentiles);
        @SuppressWarnings("unchecked")
        Map<String, Integer> errors = (Map<String, Integer>) m.values().get("errors");
        @SuppressWarnings("unchecked")
        Map<String, String> examples = (Map<String, String>) m.values().get("error_examples");
        if (!errors.isEmpty()) {
            sb.append(rule("Errors by kind"));
            errors.forEach((kind, n) -> {
                String example = examples.getOrDefault(kind, "");
                if (example != null && example.length() > 70) {
                    example = example.substring(0, 70) + "...";
                }
                sb.append(String.format(Locale.ROOT, "%-20s %6d  %s%n", kind + ":", n, example == null ? "" : example));
            });
        }
        sb.append(rule("Client"));
        double util = m.get("client_cpu_util");
        int cores = (int) m.get("client_cores");
        line(sb, "Client CPU (cores busy / available)", Double.isNaN(util) ? "n/a"
                : String.format(Locale.ROOT, "%.2f / %d", util, cores));
        sb.append("=".repeat(WIDTH)).append('\n');
        if (!Double.isNaN(util) && util > 0.8 * cores) {
            sb.append(String.format(Locale.ROOT, "WARNING: the client kept %.1f of %d cores busy: it may be the "
                    + "bottleneck; run it on another machine or with more cores.%n", util, cores));
        }
        return sb.toString();
    }

    /** A compact table with one row per point, for sweeps. */
    public static String summary(BenchReport report, double[] percentiles) {
        double p = percentiles.length == 0 ? 99 : percentiles[percentiles.length - 1];
        String pw = PointMetrics.percentileKey(p, "x").replace("_x_ms", "").toUpperCase(Locale.ROOT);
        int w = Math.max(16, report.points().stream().mapToInt(pt -> pt.label().length()).max().orElse(0));
        String row = "%-" + w + "s %6s %6s %9s %9s %10s %10s %9s %9s %10s %10s %9s %6s%n";
        String header = String.format(Locale.ROOT, row, "load", "ok", "fail", "req/s", "out tok/s", "mean TTFT",
                pw + " TTFT", "mean TPOT", pw + " TPOT", "mean E2EL", pw + " E2EL", "mean ITL", "cl.CPU");
        StringBuilder sb = new StringBuilder();
        sb.append(center(" Sweep summary (latencies in ms) ", '=')).append('\n').append(header);
        for (PointReport point : report.points()) {
            PointMetrics m = point.metrics();
            sb.append(String.format(Locale.ROOT, row,
                    point.label(), integer(m, "completed"),
                    (int) (m.get("failed") + m.get("truncated")),
                    num(m.get("request_throughput")), num(m.get("output_throughput")),
                    num(m.get("mean_ttft_ms")), num(m.get(PointMetrics.percentileKey(p, "ttft"))),
                    num(m.get("mean_tpot_ms")), num(m.get(PointMetrics.percentileKey(p, "tpot"))),
                    num(m.get("mean_e2el_ms")), num(m.get(PointMetrics.percentileKey(p, "e2el"))),
                    num(m.get("mean_itl_ms")), num(m.get("client_cpu_util"))));
        }
        sb.append("fail = failed + truncated; cl.CPU = cores the load generator kept busy\n");
        return sb.toString();
    }

    private static void latency(StringBuilder sb, PointMetrics m, String key, String shortName, String title,
                                double[] percentiles) {
        sb.append(rule(title));
        line(sb, "Mean " + shortName + " (ms)", num(m.get("mean_" + key + "_ms")));
        line(sb, "Median " + shortName + " (ms)", num(m.get("median_" + key + "_ms")));
        for (double p : percentiles) {
            String word = PointMetrics.percentileKey(p, key).split("_")[0].toUpperCase(Locale.ROOT);
            line(sb, word + " " + shortName + " (ms)", num(m.get(PointMetrics.percentileKey(p, key))));
        }
    }

    private static String rule(String title) {
        return center(title, '-') + "\n";
    }

    private static String center(String title, char fill) {
        int left = Math.max(0, (WIDTH - title.length()) / 2);
        int right = Math.max(0, WIDTH - title.length() - left);
        return String.valueOf(fill).repeat(left) + title + String.valueOf(fill).repeat(right);
    }

    private static void line(StringBuilder sb, String name, String value) {
        sb.append(String.format(Locale.ROOT, "%-40s %s%n", name + ":", value));
    }

    private static String integer(PointMetrics m, String key) {
        double v = m.get(key);
        return Double.isNaN(v) ? "n/a" : String.valueOf((long) v);
    }

    static String num(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.2f", v);
    }
}
