package dev.quire.loadtest.report;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Service-level objectives for goodput: a request is "good" when each named metric is at or under its
 * bound. Metrics: {@code ttft}, {@code tpot}, {@code e2el} (as vLLM's {@code --goodput}).
 *
 * @param boundsMs metric name to its bound in milliseconds; empty for no SLO
 */
public record Slo(Map<String, Double> boundsMs) {
    public Slo {
        boundsMs = Collections.unmodifiableMap(new LinkedHashMap<>(boundsMs)); // keeps the user's order
    }

    public static final Slo NONE = new Slo(Map.of());

    public boolean isEmpty() {
        return boundsMs.isEmpty();
    }

    /**
     * Parses {@code ttft=500ms,tpot=50ms,e2el=2s}. Units: {@code ms}, {@code s}, {@code us}; a bare number is
     * milliseconds.
     *
     * @throws IllegalArgumentException with a one-line message naming the bad part
     */
    public static Slo parse(String spec) {
        if (spec == null || spec.isBlank()) {
            return NONE;
        }
        Map<String, Double> bounds = new LinkedHashMap<>();
        for (String part : spec.split(",")) {
            String p = part.trim();
            int eq = p.indexOf('=');
            if (eq <= 0 || eq == p.length() - 1) {
                throw new IllegalArgumentException("bad --slo '" + spec + "': expected metric=value pairs such as "
                        + "ttft=500ms,tpot=50ms (metrics: ttft, tpot, e2el)");
            }
            String metric = p.substring(0, eq).trim().toLowerCase(Locale.ROOT);
            if (!metric.equals("ttft") && !metric.equals("tpot") && !metric.equals("e2el")) {
                throw new IllegalArgumentException("bad --slo '" + spec + "': unknown metric '" + metric
                        + "' (metrics: ttft, tpot, e2el)");
            }
            if (bounds.containsKey(metric)) {
                throw new IllegalArgumentException("bad --slo '" + spec + "': " + metric + " given twice");
            }
            bounds.put(metric, parseMillis(p.substring(eq + 1).trim(), spec));
        }
        return new Slo(bounds);
    }

    private static double parseMillis(String value, String spec) {
        String v = value.toLowerCase(Locale.ROOT);
        double scale = 1;
        String number = v;
        if (v.endsWith("ms")) {
            number = v.substring(0, v.length() - 2);
        } else if (v.endsWith("us")) {
            number = v.substring(0, v.length() - 2);
            scale = 1e-3;
        } else if (v.endsWith("s")) {
            number = v.substring(0, v.length() - 1);
            scale = 1000;
        }
        double ms;
        try {
            ms = Double.parseDouble(number.trim()) * scale;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad --slo '" + spec + "': '" + value + "' is not a duration "
                    + "(examples: 500ms, 0.5s, 50)");
        }
        if (!(ms > 0) || Double.isInfinite(ms)) {
            throw new IllegalArgumentException("bad --slo '" + spec + "': '" + value + "' must be a positive duration");
        }
        return ms;
    }

    /** Whether a request with these latencies (ms; tpot 0 when undefined) meets every bound. */
    public boolean met(double ttftMs, double tpotMs, double e2elMs) {
        return within("ttft", ttftMs) && within("tpot", tpotMs) && within("e2el", e2elMs);
    }

    private boolean within(String metric, double valueMs) {
        Double bound = boundsMs.get(metric);
        return bound == null || valueMs <= bound;
    }

    /** The spec back in canonical form, e.g. {@code ttft=500ms,tpot=50ms}. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        boundsMs.forEach((k, v) -> sb.append(sb.length() == 0 ? "" : ",").append(k).append('=')
                .append(v == Math.rint(v) ? String.valueOf(v.longValue()) : String.valueOf(v)).append("ms"));
        return sb.toString();
    }
}
