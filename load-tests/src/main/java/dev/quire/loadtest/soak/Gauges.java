package dev.quire.loadtest.soak;

import java.util.HashMap;
import java.util.Map;

/**
 * One reading of the server's {@code /metrics} (Prometheus text format), reduced to the gauges the soak
 * watches. A gauge the server does not export reads NaN.
 *
 * @param rssBytes       resident set size ({@code process_resident_memory_bytes})
 * @param heapBytes      heap in use, all pools ({@code jvm_memory_used_bytes{area="heap"}})
 * @param heapMaxBytes   the heap's maximum size, the pools that state one ({@code jvm_memory_max_bytes{area="heap"}})
 * @param threads        live JVM threads ({@code jvm_threads_live_threads})
 * @param fds            open file descriptors ({@code process_files_open_files})
 * @param kvUsage        share of KV cache blocks in use ({@code quire_kv_cache_usage_perc}, 0-1)
 * @param kvBlocksUsed   KV cache blocks referenced by a sequence ({@code quire_kv_cache_blocks_used})
 * @param running        sequences running in the engine ({@code quire_num_requests_running})
 * @param waiting        sequences waiting for the engine ({@code quire_num_requests_waiting})
 * @param inFlight       requests the gateway admitted and has not finished ({@code quire_gateway_requests_in_flight})
 * @param queued         admitted requests no engine scheduled yet ({@code quire_gateway_requests_queued})
 */
public record Gauges(double rssBytes, double heapBytes, double heapMaxBytes, double threads, double fds, double kvUsage,
                     double kvBlocksUsed, double running, double waiting, double inFlight, double queued) {

    /** Parses a Prometheus text exposition, summing the series of each name (and the heap pools). */
    public static Gauges parse(String exposition) {
        Map<String, Double> sums = new HashMap<>();
        double heap = Double.NaN;
        double heapMax = Double.NaN;
        for (String line : exposition.split("\n")) {
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int brace = line.indexOf('{');
            int space = line.lastIndexOf(' ');
            if (space <= 0) {
                continue;
            }
            String name = brace > 0 && brace < space ? line.substring(0, brace) : line.substring(0, space).trim();
            double value;
            try {
                value = Double.parseDouble(line.substring(space + 1).trim());
            } catch (NumberFormatException e) {
                continue;
            }
            sums.merge(name, value, Double::sum);
            if (name.equals("jvm_memory_used_bytes") && line.contains("area=\"heap\"")) {
                heap = Double.isNaN(heap) ? value : heap + value;
            }
            if (name.equals("jvm_memory_max_bytes") && line.contains("area=\"heap\"") && value > 0) {
                heapMax = Double.isNaN(heapMax) ? value : heapMax + value; // -1: a pool without a maximum
            }
        }
        return new Gauges(get(sums, "process_resident_memory_bytes"), heap, heapMax, get(sums, "jvm_threads_live_threads"),
                get(sums, "process_files_open_files"), get(sums, "quire_kv_cache_usage_perc"),
                get(sums, "quire_kv_cache_blocks_used"), get(sums, "quire_num_requests_running"),
                get(sums, "quire_num_requests_waiting"), get(sums, "quire_gateway_requests_in_flight"),
                get(sums, "quire_gateway_requests_queued"));
    }

    private static double get(Map<String, Double> sums, String name) {
        return sums.getOrDefault(name, Double.NaN);
    }

    /** No request anywhere in the server: nothing running, waiting, admitted or queued, no KV block held. */
    public boolean idle() {
        return running == 0 && waiting == 0 && inFlight == 0 && queued == 0 && kvBlocksUsed == 0;
    }

    /** What of {@link #idle()} is not so, for a report. */
    public String busy() {
        StringBuilder b = new StringBuilder();
        append(b, "running", running);
        append(b, "waiting", waiting);
        append(b, "in_flight", inFlight);
        append(b, "queued", queued);
        append(b, "kv_blocks_used", kvBlocksUsed);
        return b.toString();
    }

    private static void append(StringBuilder b, String name, double v) {
        if (v != 0) {
            b.append(b.isEmpty() ? "" : ", ").append(name).append(' ').append(Double.isNaN(v) ? "missing" : fmt(v));
        }
    }

    public static String fmt(double v) {
        return v == Math.rint(v) && !Double.isInfinite(v) ? String.valueOf((long) v) : String.format("%.3f", v);
    }
}
