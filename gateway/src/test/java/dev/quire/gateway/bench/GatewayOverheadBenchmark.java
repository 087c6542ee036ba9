package dev.quire.gateway.bench;

import dev.quire.gateway.GatewayServer;
import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.gateway.TestModels;
import dev.quire.scheduler.engine.ModelInfo;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.vertx.core.Vertx;
import org.HdrHistogram.Histogram;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Gateway overhead: streamed tokens/s and the latency the gateway adds per token (engine emission
 * to client receipt) at 1, 100 and 1000 concurrent gRPC streams, with a stand-in engine that emits
 * tokens at no cost, and the heap held per open stream.
 *
 * <p>Run: {@code gateway/benchmarks/run-overhead-benchmark.sh} (writes gateway/benchmarks/overhead.md).
 */
public final class GatewayOverheadBenchmark {
    static final int PACED_STEP_MS = 20;
    static final int PACED_STEPS = 150;

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args.length > 0 ? args[0] : "gateway/benchmarks/overhead.md");
        ModelInfo model = TestModels.model("instant", 4096);
        Vertx vertx = Vertx.vertx();
        GatewayMetrics metrics = new GatewayMetrics();
        AdmissionController admission = new AdmissionController(ApiKeys.none(),
                new AdmissionLimits(8192, 8192, Duration.ofMinutes(5), 0, 0, 0, 0, 4 << 20));
        // The access log is off in the measurement: at 50k+ lines/s it measures the console.
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("quire.access"))
                .setLevel(ch.qos.logback.classic.Level.WARN);
        InstantEngine engine = new InstantEngine(model);
        RequestDispatcher dispatcher = new RequestDispatcher(vertx, new ModelCatalog().add(engine), admission,
                metrics, new AccessLog(false));
        GatewayServer gateway = GatewayServer.start(vertx, dispatcher, metrics, "127.0.0.1", 0, 0);
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", gateway.grpcPort()).usePlaintext()
                .flowControlWindow(1 << 20).build();
        StringBuilder report = new StringBuilder("# Gateway overhead benchmark\n\n")
                .append("Command: `gateway/benchmarks/run-overhead-benchmark.sh` (from the repository root)  \n")
                .append("Date: ").append(Instant.now()).append("  \n")
                .append("Machine: ").append(Runtime.getRuntime().availableProcessors()).append(" cores, java ")
                .append(System.getProperty("java.version")).append("; gateway, stand-in engine and grpc-java client ")
                .append("share the process and the cores  \n")
                .append("Stand-in engine: one token per running stream per step, no model work; each token carries ")
                .append("its emission time, so latency = client receipt - engine emission, for every token (a chunk ")
                .append("may carry several)  \n\n")
                .append("Throughput: steps back to back (the engine emits as fast as the gateway takes tokens).  \n")
                .append("Added latency: steps every ").append(PACED_STEP_MS).append(" ms, like a real engine's ")
                .append("decode steps, so 1000 streams offer ").append(1000 * 1000 / PACED_STEP_MS)
                .append(" tokens/s; latency under an unpaced flood would only measure queueing.\n\n")
                .append("| streams | tokens per stream | max tokens/s | p50 added latency ms | p99 added latency ms "
                        + "| heap per open stream KiB |\n")
                .append("|---:|---:|---:|---:|---:|---:|\n");
        try {
            run(channel, 50, 200, null); // warm-up
            for (int[] shape : new int[][]{{1, 50_000}, {100, 2_000}, {1000, 300}}) {
                engine.stepEvery(0);
                double tokensPerSecond = run(channel, shape[0], shape[1], null);
                Histogram latency = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
                long[] heap = new long[1];
                engine.stepEvery(TimeUnit.MILLISECONDS.toNanos(PACED_STEP_MS));
                run(channel, shape[0], PACED_STEPS, new Probe(latency, heap));
                String line = String.format("| %d | %d | %.0f | %.2f | %.2f | %.1f |%n", shape[0], shape[1],
                        tokensPerSecond, latency.getValueAtPercentile(50) / 1e6,
                        latency.getValueAtPercentile(99) / 1e6, heap[0] / 1024.0 / shape[0]);
                report.append(line);
                System.out.print(line);
            }
        } finally {
            channel.shutdownNow();
            gateway.close();
            engine.close();
            vertx.close();
        }
        report.append("\nHeap per open stream: (used heap after GC with all streams open, minus used heap after ")
                .append("GC before they opened) / streams.\n");
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, report.toString());
        System.out.println(report);
        System.exit(0);
    }

    /** What a measured run records: per-token latency, and the heap delta with all streams open. */
    private record Probe(Histogram latency, long[] heapDelta) {
    }

    private static double run(ManagedChannel channel, int streams, int tokensEach, Probe probe) throws Exception {
        InferenceGrpc.InferenceStub stub = InferenceGrpc.newStub(channel);
        CountDownLatch done = new CountDownLatch(streams);
        CountDownLatch allStarted = new CountDownLatch(streams);
        AtomicLong tokens = new AtomicLong();
        long heapBefore = probe == null ? 0 : usedHeapAfterGc();
        long start = System.nanoTime();
        for (int i = 0; i < streams; i++) {
            stub.generate(GenerateRequest.newBuilder()
                    .setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                    .setSampling(SamplingParams.newBuilder().setMaxTokens(tokensEach))
                    .build(), new StreamObserver<>() {
                boolean first = true;

                @Override
                public void onNext(GenerateResponse r) {
                    if (first) {
                        first = false;
                        allStarted.countDown();
                    }
                    if (r.getTokenIdsCount() > 0) {
                        tokens.addAndGet(r.getTokenIdsCount());
                        if (probe != null) {
                            long now = System.nanoTime();
                            synchronized (probe.latency()) {
                                for (String emitted : r.getText().split(" ")) { // one per token
                                    probe.latency().recordValue(Math.max(0, now - Long.parseLong(emitted)));
                                }
                            }
                        }
                    }
                }

                @Override
                public void onError(Throwable t) {
                    System.err.println("stream failed: " + t);
                    done.countDown();
                }

                @Override
                public void onCompleted() {
                    done.countDown();
                }
            });
        }
        if (probe != null && allStarted.await(60, TimeUnit.SECONDS)) {
            probe.heapDelta()[0] = Math.max(0, usedHeapAfterGc() - heapBefore);
        }
        if (!done.await(10, TimeUnit.MINUTES)) {
            throw new IllegalStateException("streams did not finish");
        }
        return tokens.get() / ((System.nanoTime() - start) / 1e9);
    }

    private static long usedHeapAfterGc() {
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private GatewayOverheadBenchmark() {
    }
}
