package dev.quire.gateway.observability;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.scheduler.engine.FinishReason;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The windowed traffic view behind {@code GET /stats}, on a clock the test moves. */
class TrafficStatsTest {
    /** Starts mid-interval, as a real clock would. */
    final AtomicLong clock = new AtomicLong(1_000_000_002_500L);
    final TrafficStats stats = new TrafficStats(clock::get, 5_000, 60);

    static long ms(double millis) {
        return (long) (millis * 1_000_000);
    }

    @Test
    void aFreshViewHasZerosAndNullPercentiles() {
        JsonNode json = stats.json();
        assertThat(json.get("totals").get("requests_finished").asLong()).isZero();
        assertThat(json.get("last_minute").get("ttft_ms").get("p50").isNull()).isTrue();
        assertThat(json.get("last_minute").get("ttft_ms").get("count").asLong()).isZero();
        JsonNode series = json.get("series");
        assertThat(series.get("interval_seconds").asDouble()).isEqualTo(5.0);
        for (String column : new String[]{"requests", "generation_tokens", "requests_failed", "ttft_p50_ms",
                "ttft_p95_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p95_ms", "itl_p99_ms"}) {
            assertThat(series.get(column)).as(column).hasSize(60);
        }
        assertThat(series.get("ttft_p50_ms").get(59).isNull()).isTrue();
        assertThat(series.get("requests").get(59).asLong()).isZero();
        // The columns end with the interval in progress.
        assertThat(series.get("start_ms").asLong() + 59 * 5_000L).isEqualTo(1_000_000_000_000L);
    }

    @Test
    void countsTokensAsTheyStreamAndRequestsWhenTheyFinish() {
        stats.recordFirstToken(ms(40));
        stats.recordGenerated(1);
        for (int i = 0; i < 9; i++) {
            stats.recordInterToken(ms(10));
            stats.recordGenerated(1);
        }
        stats.recordFinished(FinishReason.LENGTH, 7, ms(200));
        stats.recordFailure("overloaded");
        clock.addAndGet(5_000); // the next interval
        stats.recordFirstToken(ms(80));
        stats.recordGenerated(3);
        stats.recordFinished(FinishReason.ABORTED, 5, ms(90));

        JsonNode json = stats.json();
        JsonNode totals = json.get("totals");
        assertThat(totals.get("requests_finished").asLong()).isEqualTo(2);
        assertThat(totals.get("requests_failed").asLong()).isEqualTo(1);
        assertThat(totals.get("prompt_tokens").asLong()).isEqualTo(12);
        assertThat(totals.get("generation_tokens").asLong()).isEqualTo(13);
        assertThat(totals.get("finish_reasons").get("length").asLong()).isEqualTo(1);
        assertThat(totals.get("finish_reasons").get("aborted").asLong()).isEqualTo(1);
        assertThat(totals.get("failures").get("overloaded").asLong()).isEqualTo(1);

        JsonNode series = json.get("series");
        assertThat(series.get("generation_tokens").get(58).asLong()).isEqualTo(10);
        assertThat(series.get("generation_tokens").get(59).asLong()).isEqualTo(3);
        assertThat(series.get("requests").get(58).asLong()).isEqualTo(1);
        assertThat(series.get("requests_failed").get(58).asLong()).isEqualTo(1);
        assertThat(series.get("ttft_p50_ms").get(58).asDouble()).isCloseTo(40, within(0.5));
        assertThat(series.get("ttft_p50_ms").get(59).asDouble()).isCloseTo(80, within(1.0));
        assertThat(series.get("itl_p99_ms").get(58).asDouble()).isCloseTo(10, within(0.2));
        assertThat(series.get("itl_p50_ms").get(59).isNull()).isTrue();

        JsonNode minute = json.get("last_minute");
        assertThat(minute.get("requests").asLong()).isEqualTo(2);
        assertThat(minute.get("generation_tokens").asLong()).isEqualTo(13);
        assertThat(minute.get("ttft_ms").get("count").asLong()).isEqualTo(2);
        assertThat(minute.get("ttft_ms").get("p50").asDouble()).isCloseTo(40, within(0.5));
        assertThat(minute.get("ttft_ms").get("p99").asDouble()).isCloseTo(80, within(1.0));
        assertThat(minute.get("e2e_ms").get("p99").asDouble()).isCloseTo(200, within(2.0));
        // Since start only 5 s have passed: rates are over that, not over a minute.
        assertThat(minute.get("seconds").asDouble()).isEqualTo(5.0);
        assertThat(minute.get("generation_tokens_per_second").asDouble()).isEqualTo(2.6);
    }

    @Test
    void oldIntervalsLeaveTheMinuteAndThenTheWindow() {
        stats.recordFirstToken(ms(30));
        stats.recordGenerated(100);
        stats.recordFinished(FinishReason.STOP, 1, ms(50));
        clock.addAndGet(TimeUnit.SECONDS.toMillis(65));
        JsonNode json = stats.json();
        assertThat(json.get("last_minute").get("requests").asLong()).isZero();
        assertThat(json.get("last_minute").get("ttft_ms").get("p50").isNull()).isTrue();
        assertThat(json.get("last_minute").get("seconds").asDouble()).as("11 whole intervals and the current half")
                .isEqualTo(57.5);
        assertThat(json.get("series").get("generation_tokens").get(59 - 13).asLong()).isEqualTo(100);

        clock.addAndGet(TimeUnit.MINUTES.toMillis(5));
        json = stats.json();
        long sum = 0;
        for (JsonNode v : json.get("series").get("generation_tokens")) {
            sum += v.asLong();
        }
        assertThat(sum).as("out of the five-minute window").isZero();
        assertThat(json.get("totals").get("generation_tokens").asLong()).as("totals keep everything").isEqualTo(100);

        // A slot reused for a new interval starts empty.
        stats.recordGenerated(4);
        assertThat(stats.json().get("series").get("generation_tokens").get(59).asLong()).isEqualTo(4);
    }

    @Test
    void latenciesOutsideTheRangeAreClampedNotLost() {
        stats.recordFirstToken(0);
        stats.recordFirstToken(TimeUnit.HOURS.toNanos(3));
        JsonNode ttft = stats.json().get("last_minute").get("ttft_ms");
        assertThat(ttft.get("count").asLong()).isEqualTo(2);
        assertThat(ttft.get("p99").asDouble()).isGreaterThan(3_500_000);
    }
}
