package dev.quire.gateway.bench;

import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.gateway.TestModels;
import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.TextCodec;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * A stand-in engine that costs nothing per token: each "step" hands every running request one
 * token at once, so a benchmark through the gateway measures the gateway alone. Steps run back to
 * back, or at a fixed interval like a real engine's decode steps. The text of each
 * token is the {@link System#nanoTime()} at which it was emitted followed by a space (the gateway
 * may send several tokens in one message), so a client in the same process can measure the latency
 * the gateway adds.
 */
final class InstantEngine implements InferenceEngine {
    private final ModelInfo model;
    private final ConcurrentLinkedQueue<Running> arrivals = new ConcurrentLinkedQueue<>();
    private final List<Running> running = new ArrayList<>();
    private final Thread thread;
    private volatile boolean closed;
    /** Time between steps; 0 emits as fast as the gateway takes tokens. */
    private volatile long stepNanos;

    private static final class Running {
        final GenerationRequest request;
        final GenerationListener listener;
        volatile boolean cancelled;
        int emitted;

        Running(GenerationRequest request, GenerationListener listener) {
            this.request = request;
            this.listener = listener;
        }
    }

    void stepEvery(long nanos) {
        stepNanos = nanos;
    }

    InstantEngine(ModelInfo model) {
        this.model = model;
        this.thread = new Thread(this::loop, "instant-engine");
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public ModelInfo model() {
        return model;
    }

    @Override
    public TextCodec text() {
        return TestModels.BYTES;
    }

    @Override
    public SchedulerStats stats() {
        return new SchedulerStats(running.size(), arrivals.size(), 0, 1, 0, 0, 0, 0, 0);
    }

    @Override
    public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
        Running r = new Running(request, listener);
        arrivals.add(r);
        LockSupport.unpark(thread);
        return RequestHandle.of(request.requestId(), () -> r.cancelled = true);
    }

    private void loop() {
        int[] one = new int[1];
        long nextStep = System.nanoTime();
        while (!closed) {
            if (stepNanos > 0) {
                nextStep += stepNanos;
                long wait = nextStep - System.nanoTime();
                if (wait > 0) {
                    LockSupport.parkNanos(wait);
                } else {
                    nextStep = System.nanoTime();
                }
            }
            Running arrival;
            while ((arrival = arrivals.poll()) != null) {
                arrival.listener.onScheduled();
                running.add(arrival);
            }
            if (running.isEmpty()) {
                LockSupport.parkNanos(100_000);
                continue;
            }
            for (Iterator<Running> it = running.iterator(); it.hasNext(); ) {
                Running r = it.next();
                int prompt = r.request.promptTokenIds().length;
                if (r.cancelled) {
                    it.remove();
                    r.listener.onFinish(FinishReason.ABORTED, prompt, r.emitted);
                    continue;
                }
                one[0] = 3 + (r.emitted % 500);
                r.emitted++;
                r.listener.onTokens(new int[]{one[0]}, System.nanoTime() + " ", null);
                if (r.emitted >= r.request.sampling().maxTokens()) {
                    it.remove();
                    r.listener.onFinish(FinishReason.LENGTH, prompt, r.emitted);
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
    }
}
