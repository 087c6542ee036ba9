package dev.quire.loadtest.report;

import org.HdrHistogram.Histogram;

/**
 * Distribution of one latency metric. Mean and standard deviation are exact (running sums); percentiles come
 * from an HdrHistogram with 3 significant digits, so a reported percentile is within 0.1% of the true
 * nearest-rank value (the smallest recorded value with at least p% of values at or below it). vLLM
 * interpolates between ranks instead; on more than a few hundred samples the two agree closely.
 */
public final class LatencyStats {
    private final Histogram histogram = new Histogram(3);
    private long count;
    private double mean;
    private double m2;

    /** Records one value in nanoseconds (negative values are ignored). */
    public void recordNanos(double nanos) {
        if (nanos < 0 || Double.isNaN(nanos)) {
            return;
        }
        // Welford's update keeps the variance accurate over millions of samples.
        count++;
        double delta = nanos - mean;
        mean += delta / count;
        m2 += delta * (nanos - mean);
        histogram.recordValue(Math.max(0, Math.round(nanos)));
    }

    public long count() {
        return count;
    }

    /** Mean in milliseconds (NaN when empty). */
    public double meanMs() {
        return count == 0 ? Double.NaN : mean / 1e6;
    }

    /** Population standard deviation in milliseconds, as numpy's default (NaN when empty). */
    public double stdMs() {
        return count == 0 ? Double.NaN : Math.sqrt(m2 / count) / 1e6;
    }

    /** The p-th percentile (0..100) in milliseconds (NaN when empty). */
    public double percentileMs(double p) {
        return count == 0 ? Double.NaN : histogram.getValueAtPercentile(p) / 1e6;
    }

    /** The median in milliseconds. */
    public double medianMs() {
        return percentileMs(50);
    }

    /** The largest value in milliseconds. */
    public double maxMs() {
        return count == 0 ? Double.NaN : histogram.getMaxValue() / 1e6;
    }
}
