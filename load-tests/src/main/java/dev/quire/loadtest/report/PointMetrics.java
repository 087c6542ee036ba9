package dev.quire.loadtest.report;

import dev.quire.loadtest.driver.Outcome;
import dev.quire.loadtest.driver.PointRun;
import dev.quire.loadtest.driver.RequestResult;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The aggregates of one run, keyed by the names vLLM's {@code benchmark_serving} uses so results line up
 * with other tools' output.
 *
 * <p>Definitions (all latencies in ms, over completed requests, as vLLM):
 * <ul>
 *   <li>{@code ttft}: time to first token, from sending the request to the first token-carrying chunk.</li>
 *   <li>{@code tpot}: time per output token after the first, {@code (e2el - ttft) / (output_tokens - 1)}, per
 *       request with at least two output tokens.</li>
 *   <li>{@code itl}: inter-token latency, every gap between successive token-carrying chunks. A chunk that
 *       carries several tokens contributes one gap (the field's convention), so ITL can exceed TPOT when a
 *       server batches tokens into chunks.</li>
 *   <li>{@code e2el}: end-to-end latency, send to the end of the response.</li>
 *   <li>{@code request_throughput}: completed requests / duration; {@code output_throughput}: output tokens
 *       of completed requests / duration; {@code total_token_throughput}: (prompt + output tokens) /
 *       duration; {@code request_goodput}: completed requests meeting every SLO / duration.</li>
 *   <li>{@code duration}: from the first request sent to the last one finished, in seconds.</li>
 *   <li>{@code retried}: requests sent a second time, on a new connection, because the reused HTTP connection
 *       they were written on closed before any of the response arrived; their latencies include the retry.</li>
 * </ul>
 */
public final class PointMetrics {
    /** The four latency metrics, in report order. */
    public static final String[] LATENCIES = {"ttft", "tpot", "itl", "e2el"};

    private final Map<String, Object> values;

    private PointMetrics(Map<String, Object> values) {
        this.values = Collections.unmodifiableMap(values);
    }

    /** Every aggregate, in report order; values are numbers, strings, null (not measured) or maps. */
    public Map<String, Object> values() {
        return values;
    }

    /** A numeric aggregate, NaN when absent or not measured. */
    public double get(String key) {
        return values.get(key) instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    /** The name of a percentile key: {@code p99_ttft_ms}, {@code p99.9_itl_ms}. */
    public static String percentileKey(double p, String metric) {
        String word = p == Math.rint(p) ? String.valueOf((long) p) : String.valueOf(p);
        return "p" + word + "_" + metric + "_ms";
    }

    /**
     * Computes the aggregates of a run.
     *
     * @param percentiles which percentiles to report besides the median, e.g. 90 and 99
     * @param slo         bounds for goodput (empty: no goodput)
     */
    public static PointMetrics of(PointRun run, double[] percentiles, Slo slo) {
        Map<String, LatencyStats> stats = new LinkedHashMap<>();
        for (String m : LATENCIES) {
            stats.put(m, new LatencyStats());
        }
        int completed = 0;
        int failed = 0;
        int truncated = 0;
        int duplicated = 0;
        int retried = 0;
        int good = 0;
        long inputTokens = 0;
        long outputTokens = 0;
        boolean streamed = false;
        Map<String, Integer> errors = new TreeMap<>();
        Map<String, String> examples = new TreeMap<>();
        double duration = run.durationSeconds();
        long[] perSecond = new long[(int) Math.ceil(duration) + 2];

        for (RequestResult r : run.results()) {
            if (r.duplicated()) {
                duplicated++;
            }
            if (r.retries() > 0) {
                retried++;
            }
            if (r.outcome() == Outcome.FAILED) {
                failed++;
                errors.merge(r.errorKind(), 1, Integer::sum);
                examples.putIfAbsent(r.errorKind(), r.errorMessage());
                continue;
            }
            if (r.outcome() == Outcome.TRUNCATED) {
                truncated++;
                errors.merge("truncated", 1, Integer::sum);
                examples.putIfAbsent("truncated", "stream ended without a finish reason"
                        + (r.finishReason() == null ? "" : " (finish reason " + r.finishReason() + ")"));
                continue;
            }
            completed++;
            inputTokens += r.promptTokens();
            outputTokens += r.outputTokens();
            streamed |= r.streamed();
            double ttft = r.ttftNanos();
            double tpot = r.tpotNanos();
            stats.get("ttft").recordNanos(ttft);
            stats.get("tpot").recordNanos(tpot);
            stats.get("e2el").recordNanos(r.e2elNanos());
            long[] at = r.chunkOffsets();
            for (int i = 1; i < at.length; i++) {
                stats.get("itl").recordNanos(at[i] - at[i - 1]);
            }
            for (int i = 0; i < at.length; i++) {
                int second = (int) ((r.sendNanos() + at[i] - run.startNanos()) / 1_000_000_000L);
                if (second >= 0 && second < perSecond.length) {
                    perSecond[second] += r.chunkTokens()[i];
                }
            }
            // As vLLM: a request with fewer than two output tokens has TPOT 0 for goodput.
            if (!slo.isEmpty() && slo.met(ttft < 0 ? 0 : ttft / 1e6, tpot < 0 ? 0 : tpot / 1e6, r.e2elNanos() / 1e6)) {
                good++;
            }
        }

        Map<String, Object> v = new LinkedHashMap<>();
        v.put("duration", duration);
        v.put("num_requests", run.results().size());
        v.put("completed", completed);
        v.put("failed", failed);
        v.put("truncated", truncated);
        v.put("duplicated", duplicated);
        v.put("retried", retried);
        v.put("total_input_tokens", inputTokens);
        v.put("total_output_tokens", outputTokens);
        v.put("request_throughput", completed / duration);
        v.put("request_goodput", slo.isEmpty() ? null : good / duration);
        v.put("output_throughput", outputTokens / duration);
        v.put("total_token_throughput", (inputTokens + outputTokens) / duration);
        long maxPerSecond = 0;
        for (long n : perSecond) {
            maxPerSecond = Math.max(maxPerSecond, n);
        }
        v.put("max_output_tokens_per_s", streamed ? (double) maxPerSecond : null);
        v.put("max_concurrent_requests", run.peakConcurrency());
        for (String m : LATENCIES) {
            LatencyStats s = stats.get(m);
            boolean measured = s.count() > 0 && (streamed || m.equals("e2el"));
            v.put("mean_" + m + "_ms", measured ? s.meanMs() : null);
            v.put("median_" + m + "_ms", measured ? s.medianMs() : null);
            v.put("std_" + m + "_ms", measured ? s.stdMs() : null);
            for (double p : percentiles) {
                v.put(percentileKey(p, m), measured ? s.percentileMs(p) : null);
            }
        }
        v.put("errors", errors);
        v.put("error_examples", examples);
        double cpuSeconds = run.clientCpuNanos() < 0 ? Double.NaN : run.clientCpuNanos() / 1e9;
        v.put("client_cpu_seconds", Double.isNaN(cpuSeconds) ? null : cpuSeconds);
        v.put("client_cpu_util", Double.isNaN(cpuSeconds) ? null : cpuSeconds / duration);
        v.put("client_cores", Runtime.getRuntime().availableProcessors());
        return new PointMetrics(v);
    }
}
