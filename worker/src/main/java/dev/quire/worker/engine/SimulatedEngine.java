package dev.quire.worker.engine;

import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.engine.EngineUnavailableException;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.InvalidRequestException;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.TextCodec;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A stand-in for a model, for cluster benchmarks only ({@code quire worker --simulate-step-time}):
 * every step takes a fixed time whatever the batch, as a large GPU's decode steps nearly do, and
 * gives each running request one token. Continuous batching is kept (requests join and leave
 * between steps, at most {@code maxSeqs} run at once, the rest wait in order), so a cluster of
 * these measures what the gateway and placement can carry, not what a CPU computes. Its tokens
 * are not a model's output: each is {@code 3 + (step of the request) mod (vocab - 3)}.
 */
public final class SimulatedEngine implements WorkerEngine {
    private final ModelInfo model;
    private final TextCodec text;
    private final long stepNanos;
    private final int maxSeqs;
    private final int blockSize;
    private final int kvBlocks;
    private final ConcurrentLinkedQueue<Active> arrivals = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Active> waiting = new ConcurrentLinkedQueue<>();
    private final List<Active> running = new ArrayList<>();
    private final Map<String, Active> live = new java.util.concurrent.ConcurrentHashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicLong completed = new AtomicLong();
    private final Thread thread;
    private volatile SchedulerStats stats = new SchedulerStats(0, 0, 0, 1, 0, 0, 0, 0, 0);
    private volatile double stepMillis;

    private static final class Active {
        final GenerationRequest request;
        final GenerationListener listener;
        volatile boolean cancelled;
        int emitted;

        Active(GenerationRequest request, GenerationListener listener) {
            this.request = request;
            this.listener = listener;
        }
    }

    public SimulatedEngine(ModelInfo model, TextCodec text, long stepNanos, int maxSeqs, int blockSize, int kvBlocks) {
        this.model = model;
        this.text = text;
        this.stepNanos = stepNanos;
        this.maxSeqs = maxSeqs;
        this.blockSize = blockSize;
        this.kvBlocks = kvBlocks;
        this.thread = new Thread(this::loop, "quire-simulated-engine");
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public ModelInfo model() {
        return model;
    }

    @Override
    public TextCodec text() {
        return text;
    }

    @Override
    public SchedulerStats stats() {
        return stats;
    }

    @Override
    public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
        if (closed.get()) {
            throw new EngineUnavailableException("engine is shut down");
        }
        Active a = new Active(request, listener);
        if (live.putIfAbsent(request.requestId(), a) != null) {
            throw new InvalidRequestException("request_id", "'" + request.requestId() + "' is already running");
        }
        arrivals.add(a);
        return RequestHandle.of(request.requestId(), () -> a.cancelled = true);
    }

    private void loop() {
        long next = System.nanoTime();
        while (!closed.get()) {
            Active a;
            while ((a = arrivals.poll()) != null) {
                waiting.add(a);
            }
            while (running.size() < maxSeqs && (a = waiting.poll()) != null) {
                if (!a.cancelled) {
                    a.listener.onScheduled();
                    running.add(a);
                } else {
                    end(a, FinishReason.ABORTED);
                }
            }
            publishStats();
            if (running.isEmpty()) {
                LockSupport.parkNanos(200_000);
                next = System.nanoTime();
                continue;
            }
            next += stepNanos;
            long wait = next - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            } else {
                next = System.nanoTime();
            }
            long start = System.nanoTime();
            for (Iterator<Active> it = running.iterator(); it.hasNext(); ) {
                Active r = it.next();
                if (r.cancelled) {
                    it.remove();
                    end(r, FinishReason.ABORTED);
                    continue;
                }
                int token = 3 + r.emitted % Math.max(1, model.vocabSize() - 3);
                r.emitted++;
                r.listener.onTokens(new int[]{token}, "", null);
                int max = r.request.sampling().maxTokens();
                if (max > 0 && r.emitted >= max
                        || r.request.promptTokenIds().length + r.emitted >= model.maxModelLen()) {
                    it.remove();
                    end(r, FinishReason.LENGTH);
                }
            }
            stepMillis = stepNanos / 1e6 + (System.nanoTime() - start) / 1e6;
        }
        for (Active r : running) {
            end(r, FinishReason.ABORTED);
        }
        Active a;
        while ((a = waiting.poll()) != null || (a = arrivals.poll()) != null) {
            end(a, FinishReason.ABORTED);
        }
    }

    private void end(Active a, FinishReason reason) {
        live.remove(a.request.requestId());
        completed.incrementAndGet();
        a.listener.onFinish(reason, a.request.promptTokenIds().length, a.emitted);
    }

    private void publishStats() {
        int used = 0;
        for (Active r : running) {
            used += (r.request.promptTokenIds().length + r.emitted + blockSize - 1) / blockSize;
        }
        stats = new SchedulerStats(running.size(), waiting.size() + arrivals.size(), Math.min(used, kvBlocks),
                kvBlocks, 0, 0, 0, 0, 0);
    }

    @Override
    public EngineHealth health() {
        return new EngineHealth(thread.isAlive() && !closed.get(), completed.get(), stepMillis, new long[0]);
    }

    @Override
    public int maxRunning() {
        return maxSeqs;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
