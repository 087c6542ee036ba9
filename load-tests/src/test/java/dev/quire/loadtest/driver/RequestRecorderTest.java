package dev.quire.loadtest.driver;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class RequestRecorderTest {
    private final List<RequestResult> results = new ArrayList<>();

    private RequestRecorder recorder(boolean streamed) {
        return new RequestRecorder(1_000, 12, 4, streamed, results::add);
    }

    @Test
    void aNormalStreamCompletesWithTimingAndServerUsage() {
        RequestRecorder r = recorder(true);
        r.chunk(1_500, 1, 1);
        r.chunk(2_000, 2, 3);
        r.chunk(2_600, 1, 4);
        r.chunk(2_700, 0, 4); // the final chunk carries no token
        r.usage(10, 4);
        r.finishReason("LENGTH");
        r.end(2_800);
        assertThat(results).hasSize(1);
        RequestResult x = results.get(0);
        assertThat(x.outcome()).isEqualTo(Outcome.COMPLETED);
        assertThat(x.finishReason()).isEqualTo("length");
        assertThat(x.ttftNanos()).isEqualTo(500);
        assertThat(x.chunkOffsets()).containsExactly(500, 1_000, 1_600);
        assertThat(x.chunkTokens()).containsExactly(1, 2, 1);
        assertThat(x.e2elNanos()).isEqualTo(1_800);
        assertThat(x.tpotNanos()).isEqualTo((1_800 - 500) / 3.0);
        assertThat(x.promptTokens()).isEqualTo(10);
        assertThat(x.outputTokens()).isEqualTo(4);
        assertThat(x.duplicated()).isFalse();
    }

    @Test
    void aRepeatedOrRegressingTokenIndexIsADuplicate() {
        RequestRecorder replay = recorder(true);
        replay.chunk(10, 1, 1);
        replay.chunk(20, 1, 2);
        replay.chunk(30, 1, 2); // index 1 again
        replay.finishReason("stop");
        replay.end(40);
        RequestRecorder regress = recorder(true);
        regress.chunk(10, 1, 1);
        regress.chunk(20, 1, 2);
        regress.chunk(30, 0, 1); // count went backwards
        regress.finishReason("stop");
        regress.end(40);
        RequestRecorder overCount = recorder(true);
        overCount.chunk(10, 1, 1);
        overCount.chunk(20, 1, 2);
        overCount.usage(3, 1); // final usage says fewer than streamed
        overCount.finishReason("stop");
        overCount.end(40);
        RequestRecorder noCounts = recorder(true);
        noCounts.chunk(10, 1, -1);
        noCounts.chunk(20, 1, -1);
        noCounts.finishReason("stop");
        noCounts.end(40);
        assertThat(results).extracting(RequestResult::duplicated).containsExactly(true, true, true, false);
        assertThat(results).extracting(RequestResult::outcome).containsOnly(Outcome.COMPLETED);
        assertThat(results.get(3).outputTokens()).as("tokens seen when no usage").isEqualTo(2);
        assertThat(results.get(3).promptTokens()).as("workload's length when no usage").isEqualTo(12);
    }

    @Test
    void endingWithoutAFinishReasonOrWithAbortIsTruncated() {
        RequestRecorder none = recorder(true);
        none.chunk(10, 1, 1);
        none.end(20);
        RequestRecorder aborted = recorder(true);
        aborted.chunk(10, 1, 1);
        aborted.finishReason("ABORTED");
        aborted.end(20);
        RequestRecorder abort = recorder(true);
        abort.finishReason("abort");
        abort.end(20);
        assertThat(results).extracting(RequestResult::outcome).containsOnly(Outcome.TRUNCATED);
    }

    @Test
    void theFirstTerminalEventWinsAndTimeoutCancels() {
        RequestRecorder r = recorder(true);
        int[] cancelled = {0};
        r.onCancel(() -> cancelled[0]++);
        r.chunk(10, 1, 1);
        r.timeout(50);
        r.chunk(60, 1, 2);
        r.end(70);
        r.fail(80, "io", "late");
        assertThat(results).hasSize(1);
        assertThat(results.get(0).outcome()).isEqualTo(Outcome.FAILED);
        assertThat(results.get(0).errorKind()).isEqualTo("timeout");
        assertThat(results.get(0).e2elNanos()).isEqualTo(50 - 1_000);
        assertThat(cancelled[0]).isEqualTo(1);
        assertThat(r.isDone()).isTrue();
    }

    @Test
    void withoutStreamingNoPerTokenTimingIsKept() {
        RequestRecorder r = recorder(false);
        r.chunk(900, 7, -1);
        r.finishReason("length");
        r.end(1_900);
        RequestResult x = results.get(0);
        assertThat(x.chunkOffsets()).isEmpty();
        assertThat(x.ttftNanos()).isEqualTo(-1);
        assertThat(x.tpotNanos()).isEqualTo(-1);
        assertThat(x.outputTokens()).isEqualTo(7);
    }

    @Test
    void manyChunksGrowTheArrays() {
        RequestRecorder r = recorder(true);
        for (int i = 1; i <= 1000; i++) {
            r.chunk(1_000 + i, 1, i);
        }
        r.finishReason("length");
        r.end(5_000);
        assertThat(results.get(0).chunkOffsets()).hasSize(1000);
        assertThat(results.get(0).tokensSeen()).isEqualTo(1000);
        assertThat(results.get(0).duplicated()).isFalse();
    }
}
