package dev.quire.scheduler.cluster;

import com.hazelcast.internal.util.ConcurrencyUtil;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Where callbacks on Hazelcast's asynchronous results run.
 *
 * <p>A callback chained without an executor onto a Hazelcast future that is not complete yet runs
 * on Hazelcast's default asynchronous executor: the common fork-join pool, except where that pool
 * has a parallelism of 1 (any machine with 2 cores), where Hazelcast, like the JDK, starts a new
 * thread for every callback. On a busy gateway's request ledger that was thousands of threads a
 * second and two thirds of its throughput. There, a cached pool takes its place: it reuses idle
 * threads, so a steady load starts none, yet still grows when callbacks wait, as Hazelcast's own
 * may (a fixed pool of two once left a partition thread stalled). Running callbacks on Hazelcast's
 * own threads instead is not an option: an operation's response thread may not start another
 * operation, and the ledger chains them.
 */
final class AsyncCallbacks {
    private static final AtomicBoolean INSTALLED = new AtomicBoolean();

    private AsyncCallbacks() {
    }

    /** Replaces the thread-per-callback fallback, once per process; a no-op where the common pool is used. */
    static void install() {
        if (ForkJoinPool.getCommonPoolParallelism() > 1 || !INSTALLED.compareAndSet(false, true)) {
            return;
        }
        AtomicInteger count = new AtomicInteger();
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "quire-hazelcast-callbacks-" + count.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        ConcurrencyUtil.setDefaultAsyncExecutor(pool);
    }
}
