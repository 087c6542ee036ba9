package dev.quire.loadtest.driver;

import java.time.Duration;

/**
 * The load of one run (one point of a sweep).
 *
 * @param label          how reports name this point, e.g. {@code concurrency=4}
 * @param requestRate    requests per second; {@link Double#POSITIVE_INFINITY} sends as fast as the concurrency
 *                       limit allows
 * @param burstiness     gamma shape of the arrival gaps (1 = Poisson)
 * @param maxConcurrency most requests in flight; 0 for no limit
 * @param numRequests    requests to measure; 0 when the run is bounded by {@code duration} only
 * @param duration       stop sending new requests after this long; null when bounded by count only
 * @param warmupRequests requests sent first and not measured
 * @param seed           seeds the arrival gaps and the per-request sampling seeds
 * @param requestTimeout a request running longer fails as {@code timeout}
 */
public record LoadPlan(String label, double requestRate, double burstiness, int maxConcurrency, int numRequests,
                       Duration duration, int warmupRequests, long seed, Duration requestTimeout) {
    public LoadPlan {
        if (numRequests <= 0 && duration == null) {
            throw new IllegalArgumentException("a run needs a request count or a duration");
        }
        if (Double.isInfinite(requestRate) && maxConcurrency == 0 && numRequests <= 0) {
            throw new IllegalArgumentException("a duration-bounded run needs a finite --request-rate or a --concurrency "
                    + "limit (otherwise it would open requests without end)");
        }
        if (maxConcurrency < 0 || warmupRequests < 0) {
            throw new IllegalArgumentException("concurrency and warm-up requests must be >= 0");
        }
    }
}
