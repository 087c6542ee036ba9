package dev.quire.worker.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.worker.model.LlamaCheckpointLayout.ExpectedTensor;
import dev.quire.worker.model.SafetensorsWriter.TensorSpec;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a Hugging Face-layout Llama checkpoint ({@code config.json} plus safetensors weights) with
 * random weights, for tests and benchmarks of realistic shapes. Weights are drawn like a freshly
 * initialised model (projections and embeddings N(0, 0.02²), norm weights 1 ± small noise) so that
 * activations and logits are well behaved rather than degenerate.
 *
 * <p>Each tensor's values depend only on the seed and the tensor's name, so the same seed gives the
 * same weights whatever the dtype or sharding.
 */
public final class RandomCheckpointWriter {

    /** Pass as {@code maxShardBytes} to always write a single {@code model.safetensors}. */
    public static final long NO_SHARDING = Long.MAX_VALUE;

    private static final double INIT_STD = 0.02;
    private static final double NORM_NOISE_STD = 0.05;

    private RandomCheckpointWriter() {}

    /** Writes {@code config.json} and a single {@code model.safetensors} into {@code dir}. */
    public static void write(Path dir, ModelConfig config, TensorDType dtype, long seed) {
        write(dir, config, dtype, seed, NO_SHARDING);
    }

    /**
     * Writes {@code config.json} and the weights into {@code dir} (created if needed), replacing any
     * checkpoint already there. When the weights exceed {@code maxShardBytes} they are split, in
     * order, into {@code model-0000i-of-0000n.safetensors} files plus a
     * {@code model.safetensors.index.json}; a tensor larger than the limit gets a shard of its own.
     *
     * @throws CheckpointException on I/O errors
     */
    public static void write(Path dir, ModelConfig config, TensorDType dtype, long seed, long maxShardBytes) {
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("maxShardBytes must be positive, got " + maxShardBytes);
        }
        try {
            Files.createDirectories(dir);
            deleteOldCheckpoint(dir);
            ObjectNode configJson = config.toJsonNode();
            configJson.put("torch_dtype", switch (dtype) {
                case F32 -> "float32";
                case F16 -> "float16";
                case BF16 -> "bfloat16";
            });
            Files.writeString(dir.resolve("config.json"),
                    ModelConfig.JSON.writeValueAsString(configJson) + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot write the checkpoint: " + e.getMessage(), e);
        }

        List<List<TensorSpec>> shards = planShards(config, dtype, maxShardBytes);
        if (shards.size() == 1) {
            writeShard(dir.resolve(SafetensorsCheckpoint.SINGLE_FILE), shards.get(0), seed);
            return;
        }
        ObjectNode index = ModelConfig.JSON.createObjectNode();
        long totalBytes = shards.stream().flatMap(List::stream).mapToLong(TensorSpec::byteSize).sum();
        index.putObject("metadata").put("total_size", totalBytes);
        ObjectNode weightMap = index.putObject("weight_map");
        for (int i = 0; i < shards.size(); i++) {
            String name = String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, shards.size());
            writeShard(dir.resolve(name), shards.get(i), seed);
            for (TensorSpec spec : shards.get(i)) {
                weightMap.put(spec.name(), name);
            }
        }
        try {
            Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX_FILE),
                    ModelConfig.JSON.writeValueAsString(index) + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot write the index: " + e.getMessage(), e);
        }
    }

    /**
     * The values {@link #write} stores for a tensor (before dtype rounding): a pure function of the
     * seed, the tensor's name and its size.
     */
    public static float[] values(ExpectedTensor tensor, long seed) {
        String name = tensor.name();
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ fnv1a(name));
        float[] values = new float[Math.toIntExact(TensorInfo.numElements(tensor.shape()))];
        boolean norm = name.endsWith("norm.weight");
        for (int i = 0; i < values.length; i++) {
            double g = random.nextGaussian();
            values[i] = (float) (norm ? 1.0 + NORM_NOISE_STD * g : INIT_STD * g);
        }
        return values;
    }

    private static List<List<TensorSpec>> planShards(ModelConfig config, TensorDType dtype, long maxShardBytes) {
        List<List<TensorSpec>> shards = new ArrayList<>();
        List<TensorSpec> current = new ArrayList<>();
        long currentBytes = 0;
        for (ExpectedTensor tensor : LlamaCheckpointLayout.expectedTensors(config)) {
            TensorSpec spec = new TensorSpec(tensor.name(), dtype, tensor.shape());
            if (!current.isEmpty() && currentBytes + spec.byteSize() > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(spec);
            currentBytes += spec.byteSize();
        }
        shards.add(current);
        return shards;
    }

    private static void writeShard(Path file, List<TensorSpec> specs, long seed) {
        try (SafetensorsWriter writer = SafetensorsWriter.create(file, specs, Map.of("format", "pt"))) {
            for (TensorSpec spec : specs) {
                writer.write(spec.name(), values(new ExpectedTensor(spec.name(), spec.shape()), seed));
            }
        }
    }

    /** Removes weights a previous run left, so that the folder holds exactly one checkpoint. */
    private static void deleteOldCheckpoint(Path dir) throws IOException {
        Files.deleteIfExists(dir.resolve(SafetensorsCheckpoint.SINGLE_FILE));
        Files.deleteIfExists(dir.resolve(SafetensorsCheckpoint.INDEX_FILE));
        try (DirectoryStream<Path> shards = Files.newDirectoryStream(dir, "model-*-of-*.safetensors")) {
            for (Path shard : shards) {
                Files.delete(shard);
            }
        }
    }

    private static long fnv1a(String s) {
        long hash = 0xcbf29ce484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            hash = (hash ^ (b & 0xff)) * 0x100000001b3L;
        }
        return hash;
    }

    /**
     * Command line: {@code --out DIR [--hidden 768] [--layers 12] [--heads 12] [--kv-heads HEADS]
     * [--intermediate 2048] [--vocab 32000] [--max-pos 2048] [--dtype F32] [--seed 1] [--tied]
     * [--max-shard-mb N]}. Prints what it wrote.
     */
    public static void main(String[] args) {
        int status = run(args, System.out, System.err);
        if (status != 0) {
            System.exit(status);
        }
    }

    static final String USAGE = "usage: RandomCheckpointWriter --out DIR [--hidden 768] [--layers 12] [--heads 12]"
            + " [--kv-heads HEADS] [--intermediate 2048] [--vocab 32000] [--max-pos 2048]"
            + " [--dtype F32|F16|BF16] [--seed 1] [--tied] [--max-shard-mb N]";

    /** The CLI without {@code System.exit}: returns the exit status (0 ok, 2 bad arguments, 1 failure). */
    static int run(String[] args, PrintStream out, PrintStream err) {
        Map<String, String> options = new HashMap<>();
        boolean tied = false;
        try {
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                if (arg.equals("--tied")) {
                    tied = true;
                } else if (arg.equals("--help") || arg.equals("-h")) {
                    out.println(USAGE);
                    return 0;
                } else if (List.of("--out", "--hidden", "--layers", "--heads", "--kv-heads", "--intermediate",
                        "--vocab", "--max-pos", "--dtype", "--seed", "--max-shard-mb").contains(arg)) {
                    if (i + 1 >= args.length) {
                        throw new IllegalArgumentException(arg + " needs a value");
                    }
                    options.put(arg, args[++i]);
                } else {
                    throw new IllegalArgumentException("unknown argument '" + arg + "'");
                }
            }
            if (!options.containsKey("--out")) {
                throw new IllegalArgumentException("--out is required");
            }
            int heads = intOption(options, "--heads", 12);
            ModelConfig config = ModelConfig.llama(intOption(options, "--hidden", 768),
                    intOption(options, "--intermediate", 2048), intOption(options, "--layers", 12), heads,
                    intOption(options, "--kv-heads", heads), intOption(options, "--vocab", 32000),
                    intOption(options, "--max-pos", 2048), tied);
            TensorDType dtype = TensorDType.parse(options.getOrDefault("--dtype", "F32"));
            long seed = Long.parseLong(options.getOrDefault("--seed", "1"));
            long maxShardBytes = options.containsKey("--max-shard-mb")
                    ? Long.parseLong(options.get("--max-shard-mb")) << 20 : NO_SHARDING;
            Path dir = Path.of(options.get("--out"));

            long start = System.nanoTime();
            write(dir, config, dtype, seed, maxShardBytes);
            long parameters = LlamaCheckpointLayout.expectedTensors(config).stream()
                    .mapToLong(t -> TensorInfo.numElements(t.shape())).sum();
            out.printf(Locale.ROOT, "wrote %s in %.1f s: %s%n", dir, (System.nanoTime() - start) / 1e9, config);
            out.printf(Locale.ROOT, "  %,d parameters, %s, seed %d%n", parameters, dtype, seed);
            try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
                List<Path> sorted = new ArrayList<>();
                files.forEach(sorted::add);
                sorted.sort(null);
                for (Path file : sorted) {
                    out.printf(Locale.ROOT, "  %-40s %,15d bytes%n", file.getFileName(), Files.size(file));
                }
            }
            return 0;
        } catch (CheckpointException | IOException e) {
            err.println("error: " + e.getMessage());
            return 1;
        } catch (IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
    }

    private static int intOption(Map<String, String> options, String key, int defaultValue) {
        String value = options.get(key);
        if (value == null) {
            return defaultValue;
        }
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " needs an integer, got '" + value + "'", e);
        }
    }
}
