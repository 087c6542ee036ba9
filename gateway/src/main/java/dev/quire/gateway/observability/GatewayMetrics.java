package dev.quire.gateway.observability;

import dev.quire.gateway.admission.AdmissionController;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.metrics.EngineMeters;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The gateway's Prometheus metrics. Names mirror vLLM's ({@code vllm:num_requests_running} is
 * {@code quire_num_requests_running} here, and so on) so existing dashboards translate.
 */
public final class GatewayMetrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Counter promptTokens;
    private final Counter generationTokens;
    private final Timer timeToFirstToken;
    private final Timer interTokenLatency;
    private final Timer e2eLatency;
    private final Timer queueTime;
    private final DistributionSummary promptLength;
    private final Map<FinishReason, Counter> success = new EnumMap<>(FinishReason.class);
    private final Map<String, Counter> failures = new ConcurrentHashMap<>();
    private final Map<String, Counter> placements = new ConcurrentHashMap<>();
    private final Map<String, Counter> retries = new ConcurrentHashMap<>();
    private final Map<String, Counter> migrations = new ConcurrentHashMap<>();
    private final Map<String, Counter> ledger = new ConcurrentHashMap<>();
    private final TrafficStats traffic = new TrafficStats();

    public GatewayMetrics() {
        promptTokens = Counter.builder("quire.prompt_tokens").description("Prompt tokens processed")
                .register(registry);
        generationTokens = Counter.builder("quire.generation_tokens").description("Tokens generated")
                .register(registry);
        timeToFirstToken = latency("quire.time_to_first_token", "Time from request arrival to its first token");
        interTokenLatency = latency("quire.inter_token_latency", "Time between successive tokens of a request");
        e2eLatency = latency("quire.e2e_request_latency", "Time from request arrival to its last token");
        queueTime = latency("quire.request_queue_time", "Time a request waited before an engine scheduled it");
        promptLength = DistributionSummary.builder("quire.request_prompt_tokens").baseUnit("tokens")
                .description("Prompt length of finished requests").publishPercentileHistogram().register(registry);
        for (FinishReason r : FinishReason.values()) {
            success.put(r, Counter.builder("quire.request_success").tag("finished_reason", r.name().toLowerCase())
                    .description("Finished requests by finish reason").register(registry));
        }
        bindProcess();
    }

    /**
     * The process's own health, for dashboards and for the soak test ({@code quire soak}), which reads
     * them from {@code /metrics}: heap and non-heap memory per pool ({@code jvm_memory_used_bytes}),
     * threads ({@code jvm_threads_live_threads}), open file descriptors ({@code process_files_open_files})
     * and the resident set size ({@code process_resident_memory_bytes}, Linux only), which also counts
     * native memory (model weights, KV cache, allocator arenas) the JVM's pools do not.
     */
    private void bindProcess() {
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
        if (Files.isReadable(PROC_STATUS)) {
            Gauge.builder("process.resident.memory", GatewayMetrics::residentBytes).baseUnit("bytes")
                    .description("Resident set size of the process (VmRSS)").register(registry);
        }
    }

    private static final Path PROC_STATUS = Path.of("/proc/self/status");

    /** VmRSS from /proc/self/status, in bytes; NaN where it cannot be read. */
    static double residentBytes() {
        try {
            for (String line : Files.readAllLines(PROC_STATUS)) {
                if (line.startsWith("VmRSS:")) {
                    String[] parts = line.substring(6).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024.0; // always reported in kB
                }
            }
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }

    private Timer latency(String name, String description) {
        return Timer.builder(name).description(description).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(10))
                .register(registry);
    }

    /** Exposes an engine's scheduler state, tagged with its model name. */
    public void bindEngine(InferenceEngine engine) {
        EngineMeters.bind(registry, engine);
    }

    /** Counts placements and dispatch retries per worker (label {@code worker}). */
    public dev.quire.gateway.cluster.PlacementObserver placementObserver() {
        return new dev.quire.gateway.cluster.PlacementObserver() {
            @Override
            public void placed(String workerId, int cachedBlocks) {
                placements.computeIfAbsent(workerId, w -> Counter.builder("quire.placements")
                        .tag("worker", w).description("Requests placed on each worker").register(registry))
                        .increment();
            }

            @Override
            public void migrated(String workerId) {
                migrations.computeIfAbsent(workerId, w -> Counter.builder("quire.request_migrations")
                        .tag("worker", w).description("Requests whose worker was lost mid-generation, continued "
                                + "on another worker").register(registry)).increment();
            }

            @Override
            public void retried(String workerId) {
                retries.computeIfAbsent(workerId, w -> Counter.builder("quire.dispatch_retries")
                        .tag("worker", w).description("Requests a worker refused or lost before their first token, "
                                + "run elsewhere").register(registry)).increment();
            }
        };
    }

    /** Exposes the gateway's own admission state. */
    public void bindAdmission(AdmissionController admission) {
        Gauge.builder("quire.gateway_requests_in_flight", admission, AdmissionController::inFlight)
                .description("Requests admitted by the gateway and not finished").register(registry);
        Gauge.builder("quire.gateway_requests_queued", admission, AdmissionController::queued)
                .description("Admitted requests not yet scheduled by an engine").register(registry);
    }

    void recordQueueTime(long nanos) {
        queueTime.record(nanos, TimeUnit.NANOSECONDS);
    }

    void recordFirstToken(long nanos) {
        timeToFirstToken.record(nanos, TimeUnit.NANOSECONDS);
        traffic.recordFirstToken(nanos);
    }

    void recordInterToken(long nanos) {
        interTokenLatency.record(nanos, TimeUnit.NANOSECONDS);
        traffic.recordInterToken(nanos);
    }

    /** {@code count} tokens were streamed to a client (the recent throughput of {@link #traffic()}). */
    void recordGenerated(int count) {
        traffic.recordGenerated(count);
    }

    void recordFinished(FinishReason reason, int prompt, int completion, long e2eNanos) {
        success.get(reason).increment();
        promptTokens.increment(prompt);
        generationTokens.increment(completion);
        promptLength.record(prompt);
        e2eLatency.record(e2eNanos, TimeUnit.NANOSECONDS);
        traffic.recordFinished(reason, prompt, e2eNanos);
    }

    /** Counts a request refused or failed, by error kind. */
    public void recordFailure(String kind) {
        failures.computeIfAbsent(kind, k -> Counter.builder("quire.request_failure").tag("kind", k)
                .description("Requests refused or failed, by kind").register(registry)).increment();
        traffic.recordFailure(kind);
    }

    /** The recent traffic, windowed, for {@code GET /stats}. */
    public TrafficStats traffic() {
        return traffic;
    }

    /** A retried request id whose gateway died: this gateway took the request over. */
    public void recordTakeOver() {
        ledgerEvent("take_over");
    }

    /** A retried request id that had finished: its kept result was sent again. */
    public void recordResultReplay() {
        ledgerEvent("result_replay");
    }

    private void ledgerEvent(String what) {
        ledger.computeIfAbsent(what, k -> Counter.builder("quire.request_recoveries").tag("kind", k)
                .description("Retried request ids answered from the request ledger, by kind").register(registry))
                .increment();
    }

    /** The Prometheus text exposition of every metric. */
    public String scrape() {
        return registry.scrape();
    }
}
