package dev.quire.loadtest.driver;

import dev.quire.loadtest.workload.RequestSpec;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

import java.util.concurrent.atomic.AtomicInteger;

/** A driver without a network: each request streams its tokens on timers, {@code gapMs} apart. */
final class FakeDriver implements Driver {
    final Vertx vertx;
    final long gapMs;
    final boolean answer;
    static final AtomicInteger SENT = new AtomicInteger();
    static final AtomicInteger IN_FLIGHT = new AtomicInteger();
    static final AtomicInteger PEAK = new AtomicInteger();

    FakeDriver(Vertx vertx, long gapMs, boolean answer) {
        this.vertx = vertx;
        this.gapMs = gapMs;
        this.answer = answer;
    }

    static void reset() {
        SENT.set(0);
        IN_FLIGHT.set(0);
        PEAK.set(0);
    }

    @Override
    public Future<ServerInfo> probe() {
        return Future.succeededFuture(new ServerInfo("fake", 100, 1000));
    }

    @Override
    public void send(RequestSpec spec, long seed, RequestRecorder recorder) {
        SENT.incrementAndGet();
        PEAK.accumulateAndGet(IN_FLIGHT.incrementAndGet(), Math::max);
        if (!answer) {
            recorder.onCancel(IN_FLIGHT::decrementAndGet);
            return;
        }
        emit(recorder, spec.outputLen(), 1);
    }

    private void emit(RequestRecorder recorder, int total, int index) {
        vertx.setTimer(gapMs, id -> {
            recorder.chunk(System.nanoTime(), 1, index);
            if (index == total) {
                IN_FLIGHT.decrementAndGet();
                recorder.usage(-1, total);
                recorder.finishReason("length");
                recorder.end(System.nanoTime());
            } else {
                emit(recorder, total, index + 1);
            }
        });
    }

    @Override
    public Future<Void> close() {
        return Future.succeededFuture();
    }
}
