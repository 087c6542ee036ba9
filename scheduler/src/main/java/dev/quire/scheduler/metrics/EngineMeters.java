package dev.quire.scheduler.metrics;

import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.engine.InferenceEngine;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

/**
 * An engine's scheduler state as meters, tagged with its model name: the one definition of these
 * series, used by a worker for its own engine and by a gateway for the engines it routes to.
 * Names mirror vLLM's ({@code vllm:num_requests_running} is {@code quire_num_requests_running}).
 */
public final class EngineMeters {
    private EngineMeters() {
    }

    /** Registers the engine's gauges and counters in {@code registry}. */
    public static void bind(MeterRegistry registry, InferenceEngine engine) {
        String model = engine.model().name();
        gauge(registry, "quire.num_requests_running", "Sequences running in the engine", engine,
                s -> s.running(), model);
        gauge(registry, "quire.num_requests_waiting", "Sequences waiting in the engine", engine,
                s -> s.waiting(), model);
        gauge(registry, "quire.kv_cache_usage_perc", "Share of KV cache blocks in use (0-1)", engine,
                SchedulerStats::kvCacheUsage, model);
        gauge(registry, "quire.kv_cache_blocks_used", "KV cache blocks in use", engine, s -> s.kvBlocksUsed(), model);
        gauge(registry, "quire.kv_cache_blocks_total", "KV cache blocks", engine, s -> s.kvBlocksTotal(), model);
        counter(registry, "quire.prefix_cache_queries", "Prompt tokens looked up in the prefix cache", engine,
                SchedulerStats::prefixCacheQueryTokens, model);
        counter(registry, "quire.prefix_cache_hits", "Prompt tokens served from the prefix cache", engine,
                SchedulerStats::prefixCacheHitTokens, model);
        counter(registry, "quire.num_preemptions", "Sequences preempted for lack of KV blocks", engine,
                SchedulerStats::preemptions, model);
    }

    private static void gauge(MeterRegistry registry, String name, String description, InferenceEngine engine,
                              ToDoubleFunction<SchedulerStats> f, String model) {
        Gauge.builder(name, engine, e -> f.applyAsDouble(e.stats())).tag("model_name", model).description(description)
                .register(registry);
    }

    private static void counter(MeterRegistry registry, String name, String description, InferenceEngine engine,
                                ToLongFunction<SchedulerStats> f, String model) {
        FunctionCounter.builder(name, engine, e -> f.applyAsLong(e.stats())).tag("model_name", model)
                .description(description).register(registry);
    }
}
