package dev.quire.loadtest.report;

import dev.quire.loadtest.driver.FaultInjector;
import dev.quire.loadtest.driver.Outcome;
import dev.quire.loadtest.driver.RequestResult;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class FaultRecoveryTest {
    static final long MS = 1_000_000L;

    static RequestResult streamed(long sendMs, long... chunkOffsetsMs) {
        long[] offsets = new long[chunkOffsetsMs.length];
        for (int i = 0; i < offsets.length; i++) {
            offsets[i] = chunkOffsetsMs[i] * MS;
        }
        return new RequestResult(sendMs * MS, offsets[offsets.length - 1], offsets, new int[offsets.length], true, 4,
                offsets.length, offsets.length, "length", Outcome.COMPLETED, false, null, null);
    }

    @Test
    void thePauseOfEachStreamRunningAtTheFaultIsTheTimeToItsNextToken() {
        FaultInjector.Event kill = new FaultInjector.Event(1.0, "kill -9 1", true, "killed", 1000 * MS);
        List<RequestResult> requests = List.of(
                streamed(900, 10, 20, 30, 500, 510),   // tokens at 910, 920, 930, then 1400: paused 400 ms
                streamed(950, 10, 60, 70),             // token at 1010: paused 10 ms
                streamed(100, 10, 20),                 // finished long before the fault
                streamed(1200, 10, 20));               // sent after it
        FaultRecovery r = FaultRecovery.of(kill, requests);
        assertThat(r.inFlight()).isEqualTo(2);
        assertThat(r.resumed()).isEqualTo(2);
        assertThat(r.pausesMillis()).containsExactly(10.0, 400.0);
        assertThat(r.percentile(50)).isEqualTo(10.0);
        assertThat(r.percentile(99)).isEqualTo(400.0);
    }
}
