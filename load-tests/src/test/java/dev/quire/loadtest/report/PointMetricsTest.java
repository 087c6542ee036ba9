package dev.quire.loadtest.report;

import dev.quire.loadtest.driver.LoadPlan;
import dev.quire.loadtest.driver.Outcome;
import dev.quire.loadtest.driver.PointRun;
import dev.quire.loadtest.driver.RequestResult;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class PointMetricsTest {
    private static final long MS = 1_000_000;
    private static final LoadPlan PLAN = new LoadPlan("concurrency=2", Double.POSITIVE_INFINITY, 1, 2, 4, null, 0, 0,
            Duration.ofMinutes(1));

    /** A completed request sent at {@code sentMs} whose chunks arrive at the given offsets (ms). */
    private static RequestResult completed(long sentMs, long e2elMs, int prompt, int output, long... chunkMs) {
        long[] offsets = new long[chunkMs.length];
        int[] sizes = new int[chunkMs.length];
        for (int i = 0; i < chunkMs.length; i++) {
            offsets[i] = chunkMs[i] * MS;
            sizes[i] = 1;
        }
        return new RequestResult(sentMs * MS, e2elMs * MS, offsets, sizes, true, prompt, output, output, "length",
                Outcome.COMPLETED, false, null, null);
    }

    @Test
    @SuppressWarnings("unchecked")
    void computesTheFieldsMetricsFromKnownRequests() {
        // Two completed requests, one failure, one truncated, in a run of exactly 2 s.
        RequestResult a = completed(0, 100, 10, 5, 20, 40, 60, 80, 100);      // ttft 20, tpot 20, itl 20 x4
        RequestResult b = completed(1000, 1000, 30, 3, 400, 700, 1000);      // ttft 400, tpot 300, itl 300 x2
        RequestResult failed = new RequestResult(500 * MS, 5 * MS, new long[0], new int[0], true, 7, 0, 5, null,
                Outcome.FAILED, false, "grpc_UNAVAILABLE", "worker gone");
        RequestResult cut = new RequestResult(600 * MS, 50 * MS, new long[]{10 * MS}, new int[]{1}, true, 7, 1, 5,
                null, Outcome.TRUNCATED, true, null, null);
        PointRun run = new PointRun(PLAN, List.of(a, b, failed, cut), 0, 2000 * MS, 2, 500 * MS);

        PointMetrics m = PointMetrics.of(run, new double[]{50, 99}, Slo.parse("ttft=100ms"));

        assertThat(m.get("duration")).isEqualTo(2.0);
        assertThat(m.get("num_requests")).isEqualTo(4);
        assertThat(m.get("completed")).isEqualTo(2);
        assertThat(m.get("failed")).isEqualTo(1);
        assertThat(m.get("truncated")).isEqualTo(1);
        assertThat(m.get("duplicated")).isEqualTo(1);
        assertThat(m.get("total_input_tokens")).isEqualTo(40);
        assertThat(m.get("total_output_tokens")).isEqualTo(8);
        assertThat(m.get("request_throughput")).isCloseTo(1.0, within(1e-12));
        assertThat(m.get("output_throughput")).isCloseTo(4.0, within(1e-12));
        assertThat(m.get("total_token_throughput")).isCloseTo(24.0, within(1e-12));
        assertThat(m.get("request_goodput")).as("only request a meets ttft <= 100 ms").isCloseTo(0.5, within(1e-12));
        assertThat(m.get("max_concurrent_requests")).isEqualTo(2);
        // Tokens per wall-clock second: a's five and b's first in second 0, b's last two in second 1.
        assertThat(m.get("max_output_tokens_per_s")).isEqualTo(5);

        assertThat(m.get("mean_ttft_ms")).isCloseTo(210, within(1e-9));
        assertThat(m.get("mean_tpot_ms")).isCloseTo(160, within(1e-9));
        assertThat(m.get("mean_itl_ms")).isCloseTo((4 * 20 + 2 * 300) / 6.0, within(1e-9));
        assertThat(m.get("median_itl_ms")).isCloseTo(20, within(0.02));
        assertThat(m.get("p99_itl_ms")).isCloseTo(300, within(0.3));
        assertThat(m.get("mean_e2el_ms")).isCloseTo(550, within(1e-9));
        assertThat(m.get("p50_e2el_ms")).isCloseTo(100, within(0.1));
        assertThat(m.get("std_e2el_ms")).isCloseTo(450, within(1e-9));
        assertThat(m.get("client_cpu_seconds")).isCloseTo(0.5, within(1e-12));
        assertThat(m.get("client_cpu_util")).isCloseTo(0.25, within(1e-12));

        assertThat((Map<String, Object>) m.values().get("errors")).containsEntry("grpc_UNAVAILABLE", 1).containsEntry("truncated", 1);
        assertThat((Map<String, Object>) m.values().get("error_examples")).containsEntry("grpc_UNAVAILABLE", "worker gone");
        for (String metric : PointMetrics.LATENCIES) {
            for (String stat : new String[]{"mean_", "median_", "std_", "p50_", "p99_"}) {
                String key = stat + metric + "_ms";
                assertThat(m.values()).containsKey(key);
                assertThat(m.get(key)).as(key).isNotNaN();
            }
        }
    }

    @Test
    void withoutStreamingOnlyEndToEndLatencyIsMeasured() {
        RequestResult whole = new RequestResult(0, 300 * MS, new long[0], new int[0], false, 4, 10, 10, "length",
                Outcome.COMPLETED, false, null, null);
        PointMetrics m = PointMetrics.of(new PointRun(PLAN, List.of(whole), 0, 300 * MS, 1, -1), new double[]{99},
                Slo.NONE);
        assertThat(m.values().get("mean_ttft_ms")).isNull();
        assertThat(m.values().get("p99_tpot_ms")).isNull();
        assertThat(m.values().get("mean_itl_ms")).isNull();
        assertThat(m.values().get("request_goodput")).isNull();
        assertThat(m.values().get("client_cpu_util")).isNull();
        assertThat(m.get("mean_e2el_ms")).isCloseTo(300, within(1e-9));
        assertThat(m.get("output_throughput")).isCloseTo(10 / 0.3, within(1e-9));
    }

    @Test
    void percentileKeysFollowVllm() {
        assertThat(PointMetrics.percentileKey(99, "ttft")).isEqualTo("p99_ttft_ms");
        assertThat(PointMetrics.percentileKey(99.9, "itl")).isEqualTo("p99.9_itl_ms");
        assertThat(PointMetrics.percentileKey(50, "e2el")).isEqualTo("p50_e2el_ms");
    }
}
