package dev.quire.gateway.observability;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.scheduler.engine.FinishReason;
import org.HdrHistogram.Histogram;

import java.util.EnumMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The gateway's recent traffic as the console shows it ({@code GET /stats}): cumulative counters
 * since start, and the last minutes in fixed intervals, each with its request and token counts and
 * latency percentiles. The Prometheus histograms are cumulative and bucketed for scrapers; this is
 * the compact, windowed view a browser can chart without parsing them.
 *
 * <p>Intervals are aligned to the wall clock ({@code interval} milliseconds each) and kept in a ring
 * of {@code intervals}; an interval's slot is reset when the clock first reaches it. Recording takes
 * one short lock; the engine threads record every token chunk, so it stays cheap.
 */
public final class TrafficStats {
    /** Latencies are kept from 1 microsecond to 1 hour at two significant digits. */
    private static final long MAX_MICROS = TimeUnit.HOURS.toMicros(1);
    private static final double[] PERCENTILES = {50, 95, 99};
    private static final ObjectMapper JSON = new ObjectMapper();

    private final LongSupplier clockMillis;
    private final long intervalMillis;
    private final Interval[] ring;
    private final long startedMillis;
    private final long startedNanos = System.nanoTime();
    // Totals since start.
    private long requestsFinished;
    private long requestsFailed;
    private long promptTokens;
    private long generationTokens;
    private final Map<FinishReason, Long> finishReasons = new EnumMap<>(FinishReason.class);
    private final Map<String, Long> failures = new TreeMap<>();

    /** One interval of the ring. */
    private static final class Interval {
        long index = -1; // which interval of the clock this slot holds
        long requests;
        long failed;
        long promptTokens;
        long generationTokens;
        final Histogram ttft = histogram();
        final Histogram itl = histogram();
        final Histogram e2e = histogram();

        void reset(long newIndex) {
            index = newIndex;
            requests = 0;
            failed = 0;
            promptTokens = 0;
            generationTokens = 0;
            ttft.reset();
            itl.reset();
            e2e.reset();
        }
    }

    /** Five-second intervals over the last five minutes, on the system clock. */
    public TrafficStats() {
        this(System::currentTimeMillis, 5_000, 60);
    }

    /**
     * @param clockMillis    wall clock in milliseconds
     * @param intervalMillis length of one interval
     * @param intervals      how many intervals are kept (the window is their product)
     */
    public TrafficStats(LongSupplier clockMillis, long intervalMillis, int intervals) {
        if (intervalMillis <= 0 || intervals <= 0) {
            throw new IllegalArgumentException("interval and intervals must be positive");
        }
        this.clockMillis = clockMillis;
        this.intervalMillis = intervalMillis;
        this.ring = new Interval[intervals];
        for (int i = 0; i < intervals; i++) {
            ring[i] = new Interval();
        }
        this.startedMillis = clockMillis.getAsLong();
    }

    private static Histogram histogram() {
        return new Histogram(MAX_MICROS, 2);
    }

    /** The slot of the current interval, reset if it still holds an older one. Call under the lock. */
    private Interval current() {
        long index = Math.floorDiv(clockMillis.getAsLong(), intervalMillis);
        Interval slot = ring[(int) Math.floorMod(index, (long) ring.length)];
        if (slot.index != index) {
            slot.reset(index);
        }
        return slot;
    }

    private static long micros(long nanos) {
        return Math.max(1, Math.min(MAX_MICROS, TimeUnit.NANOSECONDS.toMicros(nanos)));
    }

    /** A request's first token arrived {@code nanos} after the request did. */
    public synchronized void recordFirstToken(long nanos) {
        current().ttft.recordValue(micros(nanos));
    }

    /** Tokens arrived {@code nanos} after the request's previous ones. */
    public synchronized void recordInterToken(long nanos) {
        current().itl.recordValue(micros(nanos));
    }

    /** {@code count} tokens were generated (counted as they stream, so throughput follows the output). */
    public synchronized void recordGenerated(int count) {
        current().generationTokens += count;
        generationTokens += count;
    }

    /** A request finished. */
    public synchronized void recordFinished(FinishReason reason, int prompt, long e2eNanos) {
        Interval slot = current();
        slot.requests++;
        slot.promptTokens += prompt;
        slot.e2e.recordValue(micros(e2eNanos));
        requestsFinished++;
        promptTokens += prompt;
        finishReasons.merge(reason, 1L, Long::sum);
    }

    /** A request was refused or failed. */
    public synchronized void recordFailure(String kind) {
        current().failed++;
        requestsFailed++;
        failures.merge(kind, 1L, Long::sum);
    }

    /**
     * The JSON of {@code GET /stats}: {@code totals} since start, {@code last_minute} (counts, rates
     * and latency percentiles of the intervals of the last 60 s, the current one included), and
     * {@code series}: one column per measure, one entry per interval, oldest first, the last being
     * the interval in progress. Latencies are in milliseconds; an interval without samples has null
     * percentiles.
     */
    public synchronized ObjectNode json() {
        long now = clockMillis.getAsLong();
        long currentIndex = Math.floorDiv(now, intervalMillis);
        ObjectNode out = JSON.createObjectNode();
        out.put("time_ms", now);
        out.put("uptime_seconds", Math.round((System.nanoTime() - startedNanos) / 1e7) / 100.0);

        ObjectNode totals = out.putObject("totals");
        totals.put("requests_finished", requestsFinished).put("requests_failed", requestsFailed)
                .put("prompt_tokens", promptTokens).put("generation_tokens", generationTokens);
        ObjectNode reasons = totals.putObject("finish_reasons");
        for (FinishReason r : FinishReason.values()) {
            reasons.put(r.name().toLowerCase(), finishReasons.getOrDefault(r, 0L));
        }
        ObjectNode failed = totals.putObject("failures");
        failures.forEach(failed::put);

        // The last minute: whole intervals back from the current one, within what the ring holds
        // and what has passed since start.
        int minuteIntervals = (int) Math.max(1, Math.min(ring.length, (60_000L + intervalMillis - 1) / intervalMillis));
        Histogram ttft = histogram();
        Histogram itl = histogram();
        Histogram e2e = histogram();
        long requests = 0;
        long failedRequests = 0;
        long generated = 0;
        long prompt = 0;
        for (int back = 0; back < minuteIntervals; back++) {
            Interval slot = slot(currentIndex - back);
            if (slot != null) {
                requests += slot.requests;
                failedRequests += slot.failed;
                generated += slot.generationTokens;
                prompt += slot.promptTokens;
                ttft.add(slot.ttft);
                itl.add(slot.itl);
                e2e.add(slot.e2e);
            }
        }
        // Rates over the time those intervals cover up to now (less than a minute just after start).
        long windowStart = Math.max((currentIndex - minuteIntervals + 1) * intervalMillis, startedMillis);
        double seconds = Math.max(1, now - windowStart) / 1000.0;
        ObjectNode minute = out.putObject("last_minute");
        minute.put("seconds", Math.round(seconds * 10) / 10.0)
                .put("requests", requests).put("requests_failed", failedRequests)
                .put("prompt_tokens", prompt).put("generation_tokens", generated)
                .put("requests_per_second", round(requests / seconds))
                .put("generation_tokens_per_second", round(generated / seconds));
        percentiles(minute.putObject("ttft_ms"), ttft);
        percentiles(minute.putObject("itl_ms"), itl);
        percentiles(minute.putObject("e2e_ms"), e2e);

        ObjectNode series = out.putObject("series");
        series.put("interval_seconds", intervalMillis / 1000.0);
        series.put("start_ms", (currentIndex - ring.length + 1) * intervalMillis);
        ArrayNode req = series.putArray("requests");
        ArrayNode tokens = series.putArray("generation_tokens");
        ArrayNode failedSeries = series.putArray("requests_failed");
        ArrayNode[] ttftCols = percentileColumns(series, "ttft");
        ArrayNode[] itlCols = percentileColumns(series, "itl");
        for (long index = currentIndex - ring.length + 1; index <= currentIndex; index++) {
            Interval slot = slot(index);
            req.add(slot == null ? 0 : slot.requests);
            tokens.add(slot == null ? 0 : slot.generationTokens);
            failedSeries.add(slot == null ? 0 : slot.failed);
            addPercentiles(ttftCols, slot == null ? null : slot.ttft);
            addPercentiles(itlCols, slot == null ? null : slot.itl);
        }
        return out;
    }

    /** The slot holding interval {@code index}, or null when the ring holds another (nothing recorded then). */
    private Interval slot(long index) {
        Interval slot = ring[(int) Math.floorMod(index, (long) ring.length)];
        return slot.index == index ? slot : null;
    }

    private static ArrayNode[] percentileColumns(ObjectNode series, String name) {
        ArrayNode[] cols = new ArrayNode[PERCENTILES.length];
        for (int i = 0; i < PERCENTILES.length; i++) {
            cols[i] = series.putArray(name + "_p" + (int) PERCENTILES[i] + "_ms");
        }
        return cols;
    }

    private static void addPercentiles(ArrayNode[] cols, Histogram h) {
        for (int i = 0; i < PERCENTILES.length; i++) {
            if (h == null || h.getTotalCount() == 0) {
                cols[i].addNull();
            } else {
                cols[i].add(millis(h.getValueAtPercentile(PERCENTILES[i])));
            }
        }
    }

    private static void percentiles(ObjectNode node, Histogram h) {
        node.put("count", h.getTotalCount());
        for (double p : PERCENTILES) {
            String key = "p" + (int) p;
            if (h.getTotalCount() == 0) {
                node.putNull(key);
            } else {
                node.put(key, millis(h.getValueAtPercentile(p)));
            }
        }
    }

    /** Microseconds to milliseconds, three decimals. */
    private static double millis(long micros) {
        return micros / 1000.0;
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
