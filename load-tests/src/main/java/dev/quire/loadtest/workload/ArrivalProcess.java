package dev.quire.loadtest.workload;

import java.util.Random;

/**
 * When requests arrive, as gaps between successive arrivals.
 *
 * <p>A finite rate gives gamma-distributed gaps with mean {@code 1/rate} and shape {@code burstiness}, as
 * vLLM's benchmark does: burstiness 1 is a Poisson process (exponential gaps, coefficient of variation 1);
 * below 1 arrivals bunch up (CV = 1/sqrt(burstiness) > 1); above 1 they are more even. An infinite rate sends
 * everything at once, so a concurrency limit alone shapes the load.
 */
public interface ArrivalProcess {
    /** Nanoseconds from the previous arrival to the next one. */
    long nextGapNanos();

    /** Whether every request arrives immediately (infinite rate). */
    boolean immediate();

    /**
     * @param rate       requests per second, or {@link Double#POSITIVE_INFINITY}
     * @param burstiness gamma shape, > 0 (1 = Poisson)
     * @param seed       same seed, same gaps
     */
    static ArrivalProcess of(double rate, double burstiness, long seed) {
        if (!(rate > 0)) {
            throw new IllegalArgumentException("request rate must be > 0, got " + rate);
        }
        if (!(burstiness > 0) || Double.isInfinite(burstiness)) {
            throw new IllegalArgumentException("burstiness must be a positive number, got " + burstiness);
        }
        if (Double.isInfinite(rate)) {
            return Immediate.INSTANCE;
        }
        return new GammaArrivals(rate, burstiness, new Random(seed));
    }

    /** Everything at once. */
    enum Immediate implements ArrivalProcess {
        INSTANCE;

        @Override
        public long nextGapNanos() {
            return 0;
        }

        @Override
        public boolean immediate() {
            return true;
        }
    }
}
