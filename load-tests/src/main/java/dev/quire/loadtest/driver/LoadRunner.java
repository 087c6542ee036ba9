package dev.quire.loadtest.driver;

import dev.quire.loadtest.workload.ArrivalProcess;
import dev.quire.loadtest.workload.RequestSpec;
import dev.quire.loadtest.workload.Workload;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Runs one {@link LoadPlan}: an unmeasured warm-up, then arrivals (a rate with gamma gaps, or as fast as a
 * concurrency limit allows) until the request count or the duration is reached, then waits for the requests
 * in flight.
 *
 * <p>All bookkeeping runs on one controller context (the first event loop), so it needs no locks; requests
 * are sent from, and answered on, the event loops round-robin. Arrival times are kept on an absolute schedule,
 * so timer lateness does not lower the rate: every arrival that is due when a timer fires goes out then. As in
 * vLLM, when a concurrency limit holds a request back, its latencies count from when it is actually sent.
 */
public final class LoadRunner {
    private final ClientEventLoops loops;
    private final Vertx vertx;
    private final Context controller;
    private final LoadPlan plan;
    private final Workload workload;
    private final Workload warmup;
    private final Consumer<Progress> progress;
    private final boolean streamed;
    private final Promise<PointRun> done = Promise.promise();

    private final List<RequestResult> results = new ArrayList<>();
    private boolean measuring;
    private ArrivalProcess arrivals;
    private long startNanos;
    private long deadlineNanos = Long.MAX_VALUE;
    private long nextArrivalNanos;
    private long cpuStartNanos;
    private int arrived;
    private int pending;
    private int issued;
    private int warmupIssued;
    private int warmupDone;
    private int finished;
    private int failed;
    private int inFlight;
    private int peak;
    private long progressTimer = -1;
    private boolean completed;

    private LoadRunner(ClientEventLoops loops, LoadPlan plan, Workload workload, Workload warmup,
                       Consumer<Progress> progress, boolean streamed) {
        this.loops = loops;
        this.streamed = streamed;
        this.vertx = loops.vertx();
        this.controller = loops.shards().get(0).context();
        this.plan = plan;
        this.workload = workload;
        this.warmup = warmup;
        this.progress = progress;
    }

    /**
     * Runs a plan on the given event loops.
     *
     * @param workload what to send while measuring
     * @param warmup   what to send during the warm-up (a separate stream, so the measured requests are the same
     *                 whatever the warm-up count)
     * @param streamed whether requests stream (per-token timing is kept only then)
     * @param progress receives snapshots every half second and at the end (may ignore them)
     * @param onStart  runs on the controller when measuring begins, with its {@link System#nanoTime()}
     */
    public static Future<PointRun> run(ClientEventLoops loops, LoadPlan plan, Workload workload, Workload warmup,
                                       boolean streamed, Consumer<Progress> progress, Consumer<Long> onStart) {
        LoadRunner runner = new LoadRunner(loops, plan, workload, warmup, progress, streamed);
        runner.controller.runOnContext(v -> runner.begin(onStart));
        return runner.done.future();
    }

    private void begin(Consumer<Long> onStart) {
        progressTimer = vertx.setPeriodic(500, id -> progress.accept(snapshot()));
        if (plan.warmupRequests() > 0) {
            fillWarmup(onStart);
        } else {
            startMeasuring(onStart);
        }
    }

    private void fillWarmup(Consumer<Long> onStart) {
        while (warmupIssued < plan.warmupRequests() && slotFree()) {
            warmupIssued++;
            send(warmup.next(), -1 - warmupIssued, result -> {
                inFlight--;
                warmupDone++;
                if (warmupDone == plan.warmupRequests()) {
                    startMeasuring(onStart);
                } else {
                    fillWarmup(onStart);
                }
            });
        }
    }

    private void startMeasuring(Consumer<Long> onStart) {
        measuring = true;
        peak = 0;
        arrivals = ArrivalProcess.of(plan.requestRate(), plan.burstiness(), plan.seed());
        startNanos = System.nanoTime();
        cpuStartNanos = ProcessCpu.nanos();
        nextArrivalNanos = startNanos; // the first request goes out at once
        if (plan.duration() != null) {
            deadlineNanos = startNanos + plan.duration().toNanos();
        }
        onStart.accept(startNanos);
        schedule();
    }

    /** Takes in every arrival that is due, sends what the concurrency limit allows, and sets the next timer. */
    private void schedule() {
        if (completed) {
            return;
        }
        long now = System.nanoTime();
        if (!arrivals.immediate()) {
            while (mayArrive() && nextArrivalNanos <= now) {
                arrived++;
                pending++;
                nextArrivalNanos += arrivals.nextGapNanos();
            }
        }
        dispatch();
        if (!arrivals.immediate() && mayArrive()) {
            long delayMs = Math.max(1, (nextArrivalNanos - now + 999_999) / 1_000_000);
            vertx.setTimer(delayMs, id -> schedule());
        }
        maybeComplete();
    }

    /** Whether another arrival is planned: under the count, and before the deadline. */
    private boolean mayArrive() {
        return (plan.numRequests() <= 0 || arrived < plan.numRequests()) && nextArrivalNanos < deadlineNanos;
    }

    private boolean mayIssue() {
        if (System.nanoTime() >= deadlineNanos) {
            return false;
        }
        if (arrivals.immediate()) {
            return plan.numRequests() <= 0 || issued < plan.numRequests();
        }
        return pending > 0;
    }

    private boolean slotFree() {
        return plan.maxConcurrency() <= 0 || inFlight < plan.maxConcurrency();
    }

    private void dispatch() {
        while (slotFree() && mayIssue()) {
            if (!arrivals.immediate()) {
                pending--;
            }
            int index = issued++;
            send(workload.next(), plan.seed() * 1_000_003L + index, this::onMeasured);
        }
    }

    private void onMeasured(RequestResult result) {
        inFlight--;
        finished++;
        if (result.outcome() != Outcome.COMPLETED) {
            failed++;
        }
        results.add(result);
        dispatch();
        maybeComplete();
    }

    private void maybeComplete() {
        if (completed || inFlight > 0) {
            return;
        }
        boolean more = arrivals.immediate() ? mayIssue() : (pending > 0 && mayIssue()) || mayArrive();
        if (more) {
            return;
        }
        completed = true;
        vertx.cancelTimer(progressTimer);
        long end = startNanos;
        for (RequestResult r : results) {
            end = Math.max(end, r.sendNanos() + r.e2elNanos());
        }
        long cpuEnd = ProcessCpu.nanos();
        progress.accept(snapshot());
        done.complete(new PointRun(plan, results, startNanos, end, peak,
                cpuStartNanos < 0 || cpuEnd < 0 ? -1 : cpuEnd - cpuStartNanos));
    }

    /** Sends on the next event loop; the result comes back to the controller. */
    private void send(RequestSpec spec, long seed, Consumer<RequestResult> onResult) {
        inFlight++;
        if (measuring) {
            peak = Math.max(peak, inFlight);
        }
        List<ClientEventLoops.Shard> shards = loops.shards();
        ClientEventLoops.Shard shard = shards.get((issued + warmupIssued) % shards.size());
        long timeoutMs = Math.max(1, plan.requestTimeout().toMillis());
        shard.context().runOnContext(v -> {
            long[] timer = {-1};
            RequestRecorder recorder = new RequestRecorder(System.nanoTime(), spec.promptLen(), spec.outputLen(),
                    streamed, result -> {
                        vertx.cancelTimer(timer[0]);
                        controller.runOnContext(x -> onResult.accept(result));
                    });
            timer[0] = vertx.setTimer(timeoutMs, id -> recorder.timeout(System.nanoTime()));
            try {
                shard.driver().send(spec, seed, recorder);
            } catch (RuntimeException e) {
                recorder.fail(System.nanoTime(), "client", String.valueOf(e.getMessage()));
            }
        });
    }

    private Progress snapshot() {
        double elapsed = measuring ? (System.nanoTime() - startNanos) / 1e9 : 0;
        double duration = plan.duration() == null ? 0 : plan.duration().toNanos() / 1e9;
        return new Progress(plan.label(), !measuring, finished, Math.max(0, plan.numRequests()), failed, inFlight,
                elapsed, duration);
    }
}
