package dev.quire.loadtest.workload;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class ArrivalProcessTest {
    private static final int SAMPLES = 200_000;

    /** Mean and coefficient of variation of many gaps, in seconds. */
    private static double[] meanAndCv(ArrivalProcess arrivals) {
        double sum = 0;
        double sumSq = 0;
        for (int i = 0; i < SAMPLES; i++) {
            double gap = arrivals.nextGapNanos() / 1e9;
            assertThat(gap).isGreaterThanOrEqualTo(0);
            sum += gap;
            sumSq += gap * gap;
        }
        double mean = sum / SAMPLES;
        double variance = sumSq / SAMPLES - mean * mean;
        return new double[]{mean, Math.sqrt(variance) / mean};
    }

    @Test
    void poissonArrivalsHaveTheRateAndExponentialDispersion() {
        double[] stats = meanAndCv(ArrivalProcess.of(10, 1.0, 42));
        assertThat(1 / stats[0]).as("rate").isCloseTo(10, within(0.1));
        assertThat(stats[1]).as("coefficient of variation").isCloseTo(1.0, within(0.02));
    }

    @ParameterizedTest(name = "rate {0}/s, burstiness {1}")
    @CsvSource({"5, 0.25", "5, 0.5", "50, 2", "2, 4", "100, 10"})
    void gammaArrivalsKeepTheRateAndHaveCvOfOneOverSqrtBurstiness(double rate, double burstiness) {
        double[] stats = meanAndCv(ArrivalProcess.of(rate, burstiness, 7));
        assertThat(1 / stats[0]).as("rate").isCloseTo(rate, within(rate * 0.015));
        double expectedCv = 1 / Math.sqrt(burstiness);
        assertThat(stats[1]).as("coefficient of variation").isCloseTo(expectedCv, within(expectedCv * 0.03));
    }

    @Test
    void poissonCountsInAWindowHaveVarianceEqualToTheirMean() {
        // A Poisson process's counts per unit window have index of dispersion (variance / mean) 1.
        ArrivalProcess arrivals = ArrivalProcess.of(20, 1.0, 3);
        int windows = 5_000;
        int[] counts = new int[windows];
        double t = 0;
        while (true) {
            t += arrivals.nextGapNanos() / 1e9;
            int w = (int) t;
            if (w >= windows) {
                break;
            }
            counts[w]++;
        }
        double mean = 0;
        for (int c : counts) {
            mean += c;
        }
        mean /= windows;
        double var = 0;
        for (int c : counts) {
            var += (c - mean) * (c - mean);
        }
        var /= windows;
        assertThat(mean).isCloseTo(20, within(0.3));
        assertThat(var / mean).isCloseTo(1.0, within(0.06));
    }

    @Test
    void sameSeedSameGapsAndInfiniteRateIsImmediate() {
        ArrivalProcess a = ArrivalProcess.of(3, 0.7, 11);
        ArrivalProcess b = ArrivalProcess.of(3, 0.7, 11);
        for (int i = 0; i < 1000; i++) {
            assertThat(a.nextGapNanos()).isEqualTo(b.nextGapNanos());
        }
        ArrivalProcess inf = ArrivalProcess.of(Double.POSITIVE_INFINITY, 1, 0);
        assertThat(inf.immediate()).isTrue();
        assertThat(inf.nextGapNanos()).isZero();
        assertThat(a.immediate()).isFalse();
    }

    @Test
    void rejectsNonPositiveRateAndBurstiness() {
        assertThatThrownBy(() -> ArrivalProcess.of(0, 1, 0)).hasMessageContaining("rate");
        assertThatThrownBy(() -> ArrivalProcess.of(Double.NaN, 1, 0)).hasMessageContaining("rate");
        assertThatThrownBy(() -> ArrivalProcess.of(1, 0, 0)).hasMessageContaining("burstiness");
        assertThatThrownBy(() -> ArrivalProcess.of(1, -2, 0)).hasMessageContaining("burstiness");
    }
}
