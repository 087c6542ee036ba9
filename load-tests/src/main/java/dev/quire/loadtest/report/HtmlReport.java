package dev.quire.loadtest.report;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The sweep report: one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched) with
 * throughput-versus-latency charts for TTFT, TPOT, ITL and end-to-end latency, one marker per sweep point,
 * and a table of every point's main numbers.
 */
public final class HtmlReport {
    private static final String[] COLORS = {"#1f77b4", "#2ca02c", "#d62728", "#9467bd"};
    private static final int W = 560;
    private static final int H = 340;
    private static final int LEFT = 70;
    private static final int RIGHT = 24;
    private static final int TOP = 36;
    private static final int BOTTOM = 52;

    private HtmlReport() {
    }

    /** Writes the report, creating parent folders. */
    public static void write(BenchReport report, double[] percentiles, Path file) throws IOException {
        if (file.toAbsolutePath().getParent() != null) {
            Files.createDirectories(file.toAbsolutePath().getParent());
        }
        Files.writeString(file, render(report, percentiles), StandardCharsets.UTF_8);
    }

    /** The HTML text. */
    public static String render(BenchReport report, double[] percentiles) {
        double p = percentiles.length == 0 ? 99 : percentiles[percentiles.length - 1];
        String pName = PointMetrics.percentileKey(p, "x").replace("_x_ms", "");
        StringBuilder sb = new StringBuilder();
        sb.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>quire bench report</title>\n")
                .append("<style>body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;"
                        + "color:#222}h1{font-size:22px;margin:0 0 4px}p.sub{color:#666;margin:0 0 16px}"
                        + ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}"
                        + ".card{border:1px solid #ddd;border-radius:6px;padding:8px}"
                        + "table{border-collapse:collapse;margin-top:20px;font-size:13px}"
                        + "th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}td:first-child{white-space:nowrap}th{background:#f4f4f4}"
                        + "td:first-child,th:first-child{text-align:left}dl{display:grid;grid-template-columns:"
                        + "max-content auto;gap:2px 12px;font-size:13px}dt{color:#666}dd{margin:0}"
                        + ".note{color:#666;font-size:12px;max-width:900px}details{margin-top:16px}summary{cursor:pointer}"
                        + "</style></head><body>\n");
        sb.append("<h1>quire bench: throughput vs latency</h1>\n<p class=\"sub\">")
                .append(esc(report.tool())).append(" &middot; ").append(esc(report.date())).append("</p>\n");
        Map<String, Object> c = report.config();
        sb.append("<p class=\"sub\">").append(esc(String.valueOf(c.get("target")))).append(" &middot; model ")
                .append(esc(String.valueOf(c.get("model")))).append(" &middot; ").append(esc(String.valueOf(
                        c.get("workload")))).append(" workload</p>\n");
        sb.append("<div class=\"grid\">\n");
        String[][] charts = {
                {"ttft", "Time to first token (ms)"},
                {"tpot", "Time per output token (ms)"},
                {"itl", "Inter-token latency (ms)"},
                {"e2el", "End-to-end latency (ms)"}};
        for (String[] chart : charts) {
            List<Series> series = new ArrayList<>();
            series.add(series("mean", report, "mean_" + chart[0] + "_ms"));
            series.add(series("median", report, "median_" + chart[0] + "_ms"));
            series.add(series(pName, report, PointMetrics.percentileKey(p, chart[0])));
            sb.append("<div class=\"card\">").append(chart(chart[1] + " vs output throughput", chart[1], report, series))
                    .append("</div>\n");
        }
        sb.append("</div>\n");
        table(sb, report, p, pName);
        sb.append("<details><summary>Configuration</summary><dl>");
        for (Map.Entry<String, Object> e : c.entrySet()) {
            sb.append("<dt>").append(esc(e.getKey())).append("</dt><dd>").append(esc(String.valueOf(e.getValue())))
                    .append("</dd>");
        }
        sb.append("</dl></details>\n");
        sb.append("<p class=\"note\">Each marker is one sweep point, labelled with its load. x: output tokens per "
                + "second of completed requests. TTFT: send to first token; TPOT: (e2e &minus; TTFT) / (output tokens "
                + "&minus; 1) per request; ITL: every gap between token-carrying chunks; e2e: send to last byte. "
                + "Percentiles are nearest-rank on HdrHistogram (3 significant digits).</p>\n</body></html>\n");
        return sb.toString();
    }

    private record Series(String name, double[] y) {
    }

    private static Series series(String name, BenchReport report, String key) {
        double[] y = report.points().stream().mapToDouble(pt -> pt.metrics().get(key)).toArray();
        return new Series(name, y);
    }

    private static String chart(String title, String yLabel, BenchReport report, List<Series> series) {
        double[] x = report.points().stream().mapToDouble(pt -> pt.metrics().get("output_throughput")).toArray();
        double maxX = max(x);
        double maxY = 0;
        for (Series s : series) {
            maxY = Math.max(maxY, max(s.y()));
        }
        // 8% headroom keeps the outermost markers and their labels inside the plot.
        double[] xTicks = ticks(maxX * 1.08);
        double[] yTicks = ticks(maxY * 1.08);
        double xMax = xTicks[xTicks.length - 1];
        double yMax = yTicks[yTicks.length - 1];
        int plotW = W - LEFT - RIGHT;
        int plotH = H - TOP - BOTTOM;
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\" font-family=\"system-ui,sans-serif\" "
                + "font-size=\"11\">", W, H, W, H, esc(title)));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"600\">%s</text>",
                LEFT, esc(title)));
        for (double t : yTicks) {
            double py = TOP + plotH - t / yMax * plotH;
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                    + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%s</text>",
                    LEFT, py, LEFT + plotW, py, LEFT - 6, py + 4, tick(t)));
        }
        for (double t : xTicks) {
            double px = LEFT + t / xMax * plotW;
            sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>"
                    + "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%s</text>",
                    px, TOP, px, TOP + plotH, px, TOP + plotH + 16, tick(t)));
        }
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                + "stroke=\"#999\"/>", LEFT, TOP, plotW, plotH));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#333\">output "
                + "throughput (tok/s)</text>", LEFT + plotW / 2, H - 10));
        sb.append(String.format(Locale.ROOT, "<text transform=\"translate(16 %d) rotate(-90)\" text-anchor=\"middle\" "
                + "fill=\"#333\">%s</text>", TOP + plotH / 2, esc(yLabel)));
        for (int s = 0; s < series.size(); s++) {
            Series ser = series.get(s);
            String color = COLORS[s % COLORS.length];
            StringBuilder path = new StringBuilder();
            StringBuilder marks = new StringBuilder();
            for (int i = 0; i < x.length; i++) {
                if (Double.isNaN(x[i]) || Double.isNaN(ser.y()[i])) {
                    continue;
                }
                double px = LEFT + x[i] / xMax * plotW;
                double py = TOP + plotH - ser.y()[i] / yMax * plotH;
                path.append(path.length() == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.1f,%.1f", px, py));
                marks.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">"
                        + "<title>%s %s: %.2f ms at %.1f tok/s</title></circle>", px, py, color,
                        esc(report.points().get(i).label()), esc(ser.name()), ser.y()[i], x[i]));
                if (s == series.size() - 1) {
                    boolean right = px > LEFT + plotW * 0.7; // near the right edge: label to the left
                    marks.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#444\" font-size=\"10\" "
                            + "text-anchor=\"%s\">%s</text>", right ? px - 6 : px + 6, py - 7, right ? "end" : "start",
                            esc(report.points().get(i).label())));
                }
            }
            if (path.length() > 0) {
                sb.append(String.format(Locale.ROOT, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                        + "stroke-width=\"2\"/>", path, color));
            }
            sb.append(marks);
            int lx = LEFT + 10 + s * 90;
            sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"3\" fill=\"%s\"/>"
                    + "<text x=\"%d\" y=\"%d\" fill=\"#333\">%s</text>", lx, TOP + 8, color, lx + 16, TOP + 12,
                    esc(ser.name())));
        }
        sb.append("</svg>");
        return sb.toString();
    }

    private static void table(StringBuilder sb, BenchReport report, double p, String pName) {
        sb.append("<table><thead><tr><th>load</th><th>completed</th><th>failed</th><th>truncated</th>"
                + "<th>duplicated</th><th>req/s</th><th>output tok/s</th><th>total tok/s</th><th>goodput req/s</th>"
                + "<th>mean TTFT</th><th>").append(pName).append(" TTFT</th><th>mean TPOT</th><th>").append(pName)
                .append(" TPOT</th><th>mean ITL</th><th>mean E2EL</th><th>").append(pName)
                .append(" E2EL</th><th>peak conc.</th><th>client CPU</th></tr></thead><tbody>\n");
        for (PointReport point : report.points()) {
            PointMetrics m = point.metrics();
            sb.append("<tr><td>").append(esc(point.label())).append("</td>");
            for (String key : new String[]{"completed", "failed", "truncated", "duplicated"}) {
                sb.append("<td>").append((long) m.get(key)).append("</td>");
            }
            for (String key : new String[]{"request_throughput", "output_throughput", "total_token_throughput",
                    "request_goodput", "mean_ttft_ms", PointMetrics.percentileKey(p, "ttft"), "mean_tpot_ms",
                    PointMetrics.percentileKey(p, "tpot"), "mean_itl_ms", "mean_e2el_ms",
                    PointMetrics.percentileKey(p, "e2el")}) {
                sb.append("<td>").append(ResultTable.num(m.get(key))).append("</td>");
            }
            sb.append("<td>").append((long) m.get("max_concurrent_requests")).append("</td><td>")
                    .append(ResultTable.num(m.get("client_cpu_util"))).append("</td></tr>\n");
        }
        sb.append("</tbody></table>\n<p class=\"note\">Latencies in ms. client CPU: cores the load generator kept "
                + "busy.</p>\n");
    }

    private static double max(double[] values) {
        double m = 0;
        for (double v : values) {
            if (!Double.isNaN(v)) {
                m = Math.max(m, v);
            }
        }
        return m;
    }

    /** Round tick values from 0 to at least {@code max} (steps of 1, 2 or 5 times a power of ten). */
    static double[] ticks(double max) {
        if (!(max > 0)) {
            return new double[]{0, 1};
        }
        double raw = max / 5;
        double pow = Math.pow(10, Math.floor(Math.log10(raw)));
        double step = raw / pow < 1.5 ? pow : raw / pow < 3.5 ? 2 * pow : raw / pow < 7.5 ? 5 * pow : 10 * pow;
        int n = (int) Math.ceil(max / step - 1e-9);
        if (n * step <= max) {
            n++;
        }
        double[] t = new double[n + 1];
        for (int i = 0; i <= n; i++) {
            t[i] = i * step;
        }
        return t;
    }

    private static String tick(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.format(Locale.ROOT, "%.3g", v);
    }

    private static String esc(String s) {
        return s == null ? "" : s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
