package dev.quire.loadtest.report;

import dev.quire.loadtest.driver.FaultInjector;
import dev.quire.loadtest.driver.RequestResult;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * How streams in flight at a fault recovered: for each streamed request running when the fault was
 * fired, the time from the fault to its next token (the pause its client saw; for a killed worker,
 * the failover latency). Requests that received no token after the fault (they failed, or ended
 * just before it) are counted apart.
 *
 * @param inFlight   streamed requests running at the fault
 * @param resumed    those that received a token after it
 * @param pausesMillis the pause of each resumed request, sorted
 */
public record FaultRecovery(int inFlight, int resumed, List<Double> pausesMillis) {

    public static FaultRecovery of(FaultInjector.Event fault, List<RequestResult> requests) {
        long t = fault.firedNanos();
        int inFlight = 0;
        List<Double> pauses = new ArrayList<>();
        for (RequestResult r : requests) {
            if (!r.streamed() || t == 0 || r.sendNanos() > t || r.sendNanos() + r.e2elNanos() < t) {
                continue;
            }
            inFlight++;
            for (long offset : r.chunkOffsets()) {
                long arrival = r.sendNanos() + offset;
                if (arrival >= t) {
                    pauses.add((arrival - t) / 1e6);
                    break;
                }
            }
        }
        Collections.sort(pauses);
        return new FaultRecovery(inFlight, pauses.size(), List.copyOf(pauses));
    }

    /** The {@code p}-th percentile pause in ms (nearest rank), NaN when none resumed. */
    public double percentile(double p) {
        if (pausesMillis.isEmpty()) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100.0 * pausesMillis.size());
        return pausesMillis.get(Math.max(0, Math.min(pausesMillis.size() - 1, rank - 1)));
    }
}
