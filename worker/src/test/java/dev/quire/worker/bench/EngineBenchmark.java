package dev.quire.worker.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.worker.engine.EngineConfig;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.worker.engine.LlamaEngine;
import dev.quire.scheduler.engine.SamplingOptions;
import dev.quire.worker.engine.StepReport;
import dev.quire.scheduler.engine.TokenLogprobs;
import dev.quire.worker.model.ModelConfig;
import dev.quire.worker.model.RandomCheckpointWriter;
import dev.quire.worker.model.ServedModel;
import dev.quire.worker.model.TensorDType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Engine throughput on a generated Llama of realistic shape (hidden 768, 12 layers, 12 heads,
 * vocab 32000, F32 on CPU): output tokens/s at several concurrencies, the step time at batch 16
 * against the same matrix work done as bare DJL matmuls, and the KV slot waste at peak load.
 *
 * <p>Run: {@code worker/benchmarks/run-engine-benchmark.sh} (writes worker/benchmarks/engine.md).
 */
public final class EngineBenchmark {
    static final int PROMPT = 128;
    static final int OUTPUT = 128;
    static final int[] CONCURRENCY = {1, 4, 16, 64};
    /** Runs of the concurrency-1 / concurrency-16 pair behind the reported speed-up (the table's is the first). */
    static final int PAIRED_ROUNDS = 3;

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args.length > 0 ? args[0] : "worker/benchmarks/engine.md");
        Path modelDir = Path.of(System.getProperty("quire.bench.model", "generated-models/llama-768x12"));
        ModelConfig config = new ModelConfig("llama", 768, 2048, 12, 12, 12, 64, 32000, 2048, 1e-5, 10000.0, null,
                false, false, 1, new int[]{2});
        if (!Files.exists(modelDir.resolve("model.safetensors"))) {
            System.out.println("Writing random checkpoint to " + modelDir);
            RandomCheckpointWriter.write(modelDir, config, TensorDType.F32, 1);
        }
        ServedModel model = new ServedModel("bench", modelDir, ModelConfig.load(modelDir), null,
                new dev.quire.worker.model.ChatTemplateSource(null, null, null));
        StringBuilder report = new StringBuilder();
        report.append("# Engine benchmark\n\n")
                .append("Command: `").append(command(out)).append("` (from the repository root)  \n")
                .append("Date: ").append(Instant.now()).append("  \n")
                .append("Machine: ").append(Runtime.getRuntime().availableProcessors()).append(" cores, ")
                .append("java ").append(System.getProperty("java.version")).append(", intra-op threads ")
                .append(System.getProperty("ai.djl.pytorch.num_threads", "default"))
                .append(", native libraries ").append(nativeLibraries()).append("  \n")
                .append("Model: random Llama, hidden 768, 12 layers, 12 heads, intermediate 2048, vocab 32000, F32, CPU  \n")
                .append("Workload: ").append(PROMPT).append("-token prompts, ").append(OUTPUT)
                .append(" generated tokens, ignore_eos, greedy\n\n")
                .append("| concurrency | requests | output tok/s | speed-up vs 1 | median step ms | median batch |\n")
                .append("|---:|---:|---:|---:|---:|---:|\n");

        double base = 0;
        double bound = 0;
        double bound1 = 0;
        double medianStep16 = 0;
        double peakWasteMean = 0;
        double peakWasteMax = 0;
        String kernels;
        List<Double> speedups16 = new ArrayList<>();
        try (LlamaEngine engine = new LlamaEngine(model, EngineConfig.defaults().withKvCacheBytes(2L << 30))) {
            kernels = engine.kernels();
            run(engine, 2, 2); // warm-up
            for (int c : CONCURRENCY) {
                int requests = Math.max(c, c == 1 ? 3 : c);
                List<StepReport> steps = new ArrayList<>();
                engine.onStep(r -> {
                    synchronized (steps) {
                        steps.add(r);
                    }
                });
                // The bare-matmul references are measured right before and after the run they are
                // compared with, since this machine's speed drifts over minutes.
                boolean comparedWithBare = c == 1 || c == 16;
                double bareBefore = comparedWithBare ? bareMatmulMillis(config, c) : 0;
                double tokPerSec = run(engine, c, requests);
                if (comparedWithBare) {
                    double bare = (bareBefore + bareMatmulMillis(config, c)) / 2;
                    if (c == 1) {
                        bound1 = bare;
                    } else {
                        bound = bare;
                    }
                }
                engine.onStep(r -> { });
                if (c == 1) {
                    base = tokPerSec;
                }
                if (c == 16) {
                    speedups16.add(tokPerSec / base);
                }
                List<StepReport> decodeSteps = steps.stream().filter(s -> s.decodes() == s.sequences()).toList();
                double medianStep = median(decodeSteps.stream().mapToDouble(s -> s.stepNanos() / 1e6).toArray());
                double medianBatch = median(decodeSteps.stream().mapToDouble(StepReport::sequences).toArray());
                if (c == 16) {
                    medianStep16 = median(decodeSteps.stream().filter(s -> s.sequences() == 16)
                            .mapToDouble(s -> s.stepNanos() / 1e6).toArray());
                }
                if (c == CONCURRENCY[CONCURRENCY.length - 1]) {
                    // Peak load: the steps holding at least 90% of the most blocks the run ever held.
                    int most = steps.stream().mapToInt(StepReport::kvBlocksUsed).max().orElse(0);
                    double[] waste = steps.stream().filter(s -> s.kvBlocksUsed() >= 0.9 * most)
                            .mapToDouble(StepReport::kvSlotWaste).toArray();
                    peakWasteMean = Arrays.stream(waste).average().orElse(0);
                    peakWasteMax = Arrays.stream(waste).max().orElse(0);
                }
                report.append(String.format("| %d | %d | %.1f | %.2fx | %.1f | %.0f |%n", c, requests, tokPerSec,
                        tokPerSec / base, medianStep, medianBatch));
                System.out.printf("concurrency %d: %.1f tok/s%n", c, tokPerSec);
            }
            // This machine's speed drifts over minutes, so the speed-up target is judged on the
            // median of several back-to-back pairs rather than on the table's one pair.
            for (int round = 1; round < PAIRED_ROUNDS; round++) {
                double one = run(engine, 1, 3);
                speedups16.add(run(engine, 16, 16) / one);
            }
        }
        double[] pairs = speedups16.stream().mapToDouble(Double::doubleValue).toArray();
        report.append("\nEngine kernels: ").append(kernels).append("  \n")
                .append("Speed-up of concurrency 16 over concurrency 1, median of ").append(PAIRED_ROUNDS)
                .append(" back-to-back pairs (the table's and ").append(PAIRED_ROUNDS - 1).append(" more): ")
                .append(String.format("%.2fx", median(pairs))).append(" (target >= 6x; pairs: ")
                .append(Arrays.stream(pairs).mapToObj(v -> String.format("%.2fx", v))
                        .collect(java.util.stream.Collectors.joining(", "))).append(")  \n")
                .append("Step time at batch 16 (decode steps with exactly 16 sequences, median): ")
                .append(String.format("%.2f ms", medianStep16)).append("  \n")
                .append("Same matrix work as bare DJL matmuls (q/k/v, o, gate/up, down per layer, LM head, ")
                .append("attention score and value matmuls at context 192; median of 20, measured before and after the concurrency-16 run, mean of the two): ")
                .append(String.format("%.2f ms", bound)).append("  \n")
                .append("Ratio engine step / bare matmuls: ").append(String.format("%.2f", medianStep16 / bound))
                .append(" (target <= 1.5)  \n")
                .append("The same matrix work at batch 1 (measured around the concurrency-1 run): ").append(String.format("%.2f ms", bound1))
                .append(", so batch 16 costs ").append(String.format("%.2fx", bound / bound1))
                .append(" the batch-1 matrix time. The engine multiplies its weights with MKL's packed GEMM ")
                .append("when the kernels line says so, which is faster than these PyTorch matmuls at small batches, ")
                .append("so its step can come in under this reference.  \n")
                .append("KV slots allocated but holding no token at peak load (concurrency 64, steps holding >= 90% ")
                .append("of the most blocks used): mean ").append(String.format("%.2f%%", 100 * peakWasteMean))
                .append(" (target < 4%), worst single step ").append(String.format("%.2f%%", 100 * peakWasteMax))
                .append(". Only each sequence's last, partly filled block is ever unused; the worst step is when ")
                .append("64 sequences in lockstep have all just opened a new 16-token block.\n");
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, report.toString());
        System.out.println(report);
    }

    /** Runs {@code requests} requests keeping {@code concurrency} in flight; returns output tokens/s. */
    static double run(LlamaEngine engine, int concurrency, int requests) throws InterruptedException {
        Semaphore slots = new Semaphore(concurrency);
        CountDownLatch done = new CountDownLatch(requests);
        AtomicLong tokens = new AtomicLong();
        Random random = new Random(concurrency);
        long start = System.nanoTime();
        for (int i = 0; i < requests; i++) {
            slots.acquire();
            int[] prompt = new int[PROMPT];
            prompt[0] = 1;
            for (int j = 1; j < PROMPT; j++) {
                prompt[j] = 3 + random.nextInt(31_000);
            }
            engine.submit(new GenerationRequest("b" + concurrency + "-" + i + "-" + System.nanoTime(), prompt,
                    SamplingOptions.builder().temperature(0f).maxTokens(OUTPUT).ignoreEos(true).build()),
                    new GenerationListener() {
                        @Override
                        public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
                            tokens.addAndGet(tokenIds.length);
                        }

                        @Override
                        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
                            slots.release();
                            done.countDown();
                        }

                        @Override
                        public void onError(Throwable error) {
                            error.printStackTrace();
                            slots.release();
                            done.countDown();
                        }
                    });
        }
        done.await();
        return tokens.get() / ((System.nanoTime() - start) / 1e9);
    }

    /** The command line that reproduces this run: the script, its switches that were set, and the report path. */
    static String command(Path report) {
        StringBuilder command = new StringBuilder();
        for (String name : List.of("QUIRE_MKL_CPU", "QUIRE_NATIVE_ATTENTION", "QUIRE_MALLOC", "QUIRE_JAVA_OPTS")) {
            String value = System.getenv(name);
            if (value != null && !value.isBlank()) {
                command.append(name).append('=').append(value.contains(" ") ? "'" + value + "'" : value).append(' ');
            }
        }
        command.append("worker/benchmarks/run-engine-benchmark.sh");
        if (!report.equals(Path.of("worker/benchmarks/engine.md"))) {
            command.append(' ').append(report);
        }
        return command.toString();
    }

    /** What deploy/native-runtime.sh chose for this JVM: the preloaded libraries, or glibc's malloc. */
    static String nativeLibraries() {
        String preload = System.getenv("LD_PRELOAD");
        String malloc = System.getenv("GLIBC_TUNABLES") != null ? "glibc malloc (keeping freed memory)" : "glibc malloc";
        if (preload == null || preload.isBlank()) {
            return malloc;
        }
        List<String> names = new ArrayList<>();
        for (String path : preload.split(":")) {
            names.add(Path.of(path).getFileName().toString());
        }
        if (names.stream().noneMatch(name -> name.contains("malloc"))) {
            names.add(malloc);
        }
        return String.join(" + ", names);
    }

    /** The matrix work of one decode step of {@code batch} sequences, as bare DJL matmuls. */
    static double bareMatmulMillis(ModelConfig c, int batch) {
        try (NDManager m = NDManager.newBaseManager()) {
            int h = c.hiddenSize();
            int qkv = (c.numHeads() + 2 * c.numKvHeads()) * c.headDim();
            NDArray x = m.randomNormal(new Shape(batch, h));
            NDArray xi = m.randomNormal(new Shape(batch, c.intermediateSize()));
            NDArray wqkv = m.randomNormal(new Shape(h, qkv));
            NDArray wo = m.randomNormal(new Shape(h, h));
            NDArray wgu = m.randomNormal(new Shape(h, 2L * c.intermediateSize()));
            NDArray wd = m.randomNormal(new Shape(c.intermediateSize(), h));
            NDArray head = m.randomNormal(new Shape(h, c.vocabSize()));
            int context = 192;
            NDArray q = m.randomNormal(new Shape(batch, c.numKvHeads(), c.numHeads() / c.numKvHeads(), c.headDim()));
            NDArray k = m.randomNormal(new Shape(batch, c.numKvHeads(), c.headDim(), context));
            NDArray v = m.randomNormal(new Shape(batch, c.numKvHeads(), context, c.headDim()));
            double[] times = new double[20];
            for (int rep = 0; rep < times.length + 3; rep++) {
                long t0 = System.nanoTime();
                try (NDManager step = m.newSubManager()) {
                    for (int l = 0; l < c.numLayers(); l++) {
                        step.attachAll(x.matMul(wqkv), x.matMul(wo), x.matMul(wgu), xi.matMul(wd));
                        NDArray p = q.matMul(k);
                        step.attachAll(p, p.matMul(v));
                    }
                    step.attachAll(x.matMul(head));
                }
                if (rep >= 3) {
                    times[rep - 3] = (System.nanoTime() - t0) / 1e6;
                }
            }
            return median(times);
        }
    }

    static double median(double[] values) {
        if (values.length == 0) {
            return Double.NaN;
        }
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private EngineBenchmark() {
    }

    static {
        try {
            Files.createDirectories(Path.of("generated-models"));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
