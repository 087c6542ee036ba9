package dev.quire.loadtest.report;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class LatencyStatsTest {
    private static final double MS = 1e6;

    @Test
    void percentilesOfOneToOneThousandMillisecondsAreTheNearestRanks() {
        LatencyStats s = new LatencyStats();
        List<Integer> values = new ArrayList<>();
        for (int i = 1; i <= 1000; i++) {
            values.add(i);
        }
        Collections.shuffle(values, new Random(1)); // order must not matter
        values.forEach(v -> s.recordNanos(v * MS));

        assertThat(s.count()).isEqualTo(1000);
        assertThat(s.meanMs()).isCloseTo(500.5, within(1e-9));
        // Population standard deviation of 1..n: sqrt((n^2 - 1) / 12).
        assertThat(s.stdMs()).isCloseTo(Math.sqrt((1000.0 * 1000 - 1) / 12), within(1e-6));
        // Nearest rank, within HdrHistogram's 3 significant digits (0.1%).
        assertThat(s.medianMs()).isCloseTo(500, within(0.5));
        assertThat(s.percentileMs(90)).isCloseTo(900, within(0.9));
        assertThat(s.percentileMs(99)).isCloseTo(990, within(1.0));
        assertThat(s.percentileMs(99.9)).isCloseTo(999, within(1.0));
        assertThat(s.percentileMs(100)).isCloseTo(1000, within(1.0));
        assertThat(s.maxMs()).isCloseTo(1000, within(1.0));
    }

    @Test
    void smallSetsAndSubMillisecondValues() {
        LatencyStats s = new LatencyStats();
        for (double v : new double[]{0.25, 0.5, 0.75, 1.0}) {
            s.recordNanos(v * MS);
        }
        assertThat(s.meanMs()).isCloseTo(0.625, within(1e-12));
        assertThat(s.medianMs()).isCloseTo(0.5, within(0.0005));
        assertThat(s.percentileMs(75)).isCloseTo(0.75, within(0.00075));
        assertThat(s.percentileMs(99)).isCloseTo(1.0, within(0.001));
        // Known std of {0.25, 0.5, 0.75, 1.0}: sqrt(0.078125).
        assertThat(s.stdMs()).isCloseTo(Math.sqrt(0.078125), within(1e-12));
    }

    @Test
    void aSkewedDistributionKeepsItsTail() {
        LatencyStats s = new LatencyStats();
        for (int i = 0; i < 980; i++) {
            s.recordNanos(10 * MS);
        }
        for (int i = 0; i < 20; i++) {
            s.recordNanos(2000 * MS);
        }
        assertThat(s.medianMs()).isCloseTo(10, within(0.01));
        assertThat(s.percentileMs(98)).isCloseTo(10, within(0.01));
        assertThat(s.percentileMs(99)).isCloseTo(2000, within(2.0));
        assertThat(s.meanMs()).isCloseTo((980 * 10 + 20 * 2000) / 1000.0, within(1e-9));
    }

    @Test
    void emptyIsNaNAndNegativesAreIgnored() {
        LatencyStats s = new LatencyStats();
        s.recordNanos(-1);
        s.recordNanos(Double.NaN);
        assertThat(s.count()).isZero();
        assertThat(s.meanMs()).isNaN();
        assertThat(s.percentileMs(99)).isNaN();
        assertThat(s.stdMs()).isNaN();
    }
}
