package dev.quire.loadtest.driver;

import dev.quire.loadtest.workload.PromptFormat;
import dev.quire.loadtest.workload.PromptSynthesizer;
import dev.quire.loadtest.workload.RandomWorkload;
import dev.quire.loadtest.workload.Workload;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class LoadRunnerTest {
    private ClientEventLoops loops;

    @BeforeEach
    void reset() {
        FakeDriver.reset();
    }

    @AfterEach
    void close() {
        if (loops != null) {
            loops.close();
        }
    }

    private static Workload workload(int outputLen) {
        return new RandomWorkload(new PromptSynthesizer(PromptFormat.IDS, 100), 4, outputLen, 0, 1);
    }

    private PointRun run(long gapMs, boolean answer, LoadPlan plan, int outputLen, List<Progress> progress,
                         long[] started) throws Exception {
        loops = ClientEventLoops.start(2, vertx -> new FakeDriver(vertx, gapMs, answer));
        return LoadRunner.run(loops, plan, workload(outputLen), workload(outputLen), true,
                p -> {
                    synchronized (progress) {
                        progress.add(p);
                    }
                }, t -> started[0] = t).await(60, TimeUnit.SECONDS);
    }

    private static LoadPlan plan(double rate, int concurrency, int n, Duration duration, int warmup) {
        return new LoadPlan("test", rate, 1.0, concurrency, n, duration, warmup, 3, Duration.ofMinutes(1));
    }

    @Test
    void aClosedLoopKeepsExactlyTheConcurrencyInFlight() throws Exception {
        List<Progress> progress = new ArrayList<>();
        long[] started = {0};
        PointRun run = run(2, true, plan(Double.POSITIVE_INFINITY, 3, 30, null, 0), 5, progress, started);
        assertThat(run.results()).hasSize(30);
        assertThat(run.results()).allSatisfy(r -> {
            assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
            assertThat(r.outputTokens()).isEqualTo(5);
        });
        assertThat(run.peakConcurrency()).isEqualTo(3);
        assertThat(FakeDriver.PEAK.get()).isEqualTo(3);
        assertThat(run.startNanos()).isEqualTo(started[0]);
        assertThat(run.endNanos()).isGreaterThan(run.startNanos());
        assertThat(progress).isNotEmpty();
        assertThat(progress.get(progress.size() - 1).done()).isEqualTo(30);
    }

    @Test
    void aPoissonRateSpacesSendsAtThatRate() throws Exception {
        // 100 req/s for 150 requests: 149 exponential gaps of mean 10 ms, standard deviation about 0.12 s.
        PointRun run = run(1, true, plan(100, 0, 150, null, 0), 2, new ArrayList<>(), new long[1]);
        assertThat(run.results()).hasSize(150);
        long first = run.results().stream().mapToLong(RequestResult::sendNanos).min().orElseThrow();
        long last = run.results().stream().mapToLong(RequestResult::sendNanos).max().orElseThrow();
        double seconds = (last - first) / 1e9;
        assertThat(seconds).isBetween(1.0, 2.2);
    }

    @Test
    void aDurationBoundsTheRunAndInFlightRequestsStillCount() throws Exception {
        PointRun run = run(5, true, plan(Double.POSITIVE_INFINITY, 4, 0, Duration.ofMillis(400), 0), 10,
                new ArrayList<>(), new long[1]);
        // Each request takes about 50 ms; 4 at a time for 0.4 s is about 32, however loaded the machine.
        assertThat(run.results().size()).isBetween(4, 40);
        assertThat(run.results()).allSatisfy(r -> assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED));
        long lastSend = run.results().stream().mapToLong(RequestResult::sendNanos).max().orElseThrow();
        assertThat(lastSend - run.startNanos()).isLessThan(Duration.ofMillis(400).toNanos());
    }

    @Test
    void warmUpRequestsAreSentButNotMeasured() throws Exception {
        PointRun run = run(1, true, plan(Double.POSITIVE_INFINITY, 2, 6, null, 5), 2, new ArrayList<>(), new long[1]);
        assertThat(run.results()).hasSize(6);
        assertThat(FakeDriver.SENT.get()).isEqualTo(11);
    }

    @Test
    void requestsThatNeverAnswerTimeOutAndAreCancelled() throws Exception {
        LoadPlan plan = new LoadPlan("t", Double.POSITIVE_INFINITY, 1, 0, 3, null, 0, 0, Duration.ofMillis(200));
        PointRun run = run(1, false, plan, 2, new ArrayList<>(), new long[1]);
        assertThat(run.results()).hasSize(3).allSatisfy(r -> {
            assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
            assertThat(r.errorKind()).isEqualTo("timeout");
            assertThat(r.e2elNanos()).isGreaterThanOrEqualTo(Duration.ofMillis(190).toNanos());
        });
        assertThat(FakeDriver.IN_FLIGHT.get()).as("cancelled on the wire").isZero();
    }

    @Test
    void thousandsOfConcurrentStreamsOnTwoThreads() throws Exception {
        // 3000 streams open at once, each 20 tokens 10 ms apart: 60k token events in about 0.3 s.
        PointRun run = run(10, true, plan(Double.POSITIVE_INFINITY, 0, 3000, null, 0), 20, new ArrayList<>(),
                new long[1]);
        assertThat(run.results()).hasSize(3000).allSatisfy(r -> assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED));
        assertThat(run.peakConcurrency()).isGreaterThan(2000);
        assertThat(run.results().stream().mapToInt(RequestResult::tokensSeen).sum()).isEqualTo(60_000);
    }
}
