package dev.quire.loadtest.workload;

import java.util.Random;

/**
 * Gamma-distributed gaps with mean {@code 1/rate} and shape {@code k = burstiness} (scale {@code 1/(rate*k)}).
 * Shape 1 is the exponential distribution, i.e. Poisson arrivals.
 */
public final class GammaArrivals implements ArrivalProcess {
    private final double shape;
    private final double scaleSeconds;
    private final Random random;

    public GammaArrivals(double rate, double burstiness, Random random) {
        this.shape = burstiness;
        this.scaleSeconds = 1.0 / (rate * burstiness);
        this.random = random;
    }

    @Override
    public long nextGapNanos() {
        return Math.round(sampleGamma(shape, random) * scaleSeconds * 1e9);
    }

    @Override
    public boolean immediate() {
        return false;
    }

    /**
     * One draw from Gamma(shape, 1) by Marsaglia and Tsang's method (ACM TOMS 26(3), 2000); for shape < 1 a
     * Gamma(shape + 1) draw is scaled by U^(1/shape).
     */
    static double sampleGamma(double shape, Random random) {
        if (shape == 1.0) {
            return -Math.log(1.0 - random.nextDouble()); // exponential, exactly
        }
        if (shape < 1.0) {
            double u = 1.0 - random.nextDouble();
            return sampleGamma(shape + 1.0, random) * Math.pow(u, 1.0 / shape);
        }
        double d = shape - 1.0 / 3.0;
        double c = 1.0 / Math.sqrt(9.0 * d);
        while (true) {
            double x;
            double v;
            do {
                x = random.nextGaussian();
                v = 1.0 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = random.nextDouble();
            if (u < 1.0 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1.0 - v + Math.log(v))) {
                return d * v;
            }
        }
    }
}
