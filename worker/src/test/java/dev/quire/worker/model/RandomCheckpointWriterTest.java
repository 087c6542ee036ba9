package dev.quire.worker.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.quire.worker.model.LlamaCheckpointLayout.ExpectedTensor;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class RandomCheckpointWriterTest {

    /** GQA (4 query heads over 2 KV heads), untied head. */
    private static final ModelConfig GQA = ModelConfig.llama(32, 48, 2, 4, 2, 50, 64, false);

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(TensorDType.class)
    void writesACheckpointThatLoadsValidatesAndReadsBack(TensorDType dtype) {
        RandomCheckpointWriter.write(dir, GQA, dtype, 7);

        assertThat(ModelConfig.fromJson(readString(dir.resolve("config.json")), null, "config.json")).isEqualTo(GQA);
        assertThat(ModelConfig.load(dir)).isEqualTo(GQA);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            LlamaCheckpointLayout.validate(GQA, checkpoint);
            for (ExpectedTensor tensor : LlamaCheckpointLayout.expectedTensors(GQA)) {
                assertThat(checkpoint.info(tensor.name()).dtype()).isEqualTo(dtype);
                float[] written = RandomCheckpointWriter.values(tensor, 7);
                float[] read = checkpoint.readFloats(tensor.name());
                assertThat(read).hasSameSizeAs(written);
                for (int i = 0; i < read.length; i++) {
                    float w = written[i];
                    switch (dtype) {
                        case F32 -> assertThat(Float.floatToRawIntBits(read[i])).isEqualTo(Float.floatToRawIntBits(w));
                        case F16 -> {
                            // 11 significant bits; below 2^-14 a fixed 2^-24 spacing (subnormals).
                            assertThat(read[i]).isCloseTo(w, within(Math.max(Math.abs(w) * 0x1p-11f, 0x1p-25f)));
                            assertThat(read[i]).isEqualTo(HalfFloats.f16ToF32(HalfFloats.f32ToF16(w)));
                        }
                        case BF16 -> {
                            assertThat(read[i]).isCloseTo(w, within(Math.abs(w) * 0x1p-8f));
                            assertThat(read[i]).isEqualTo(HalfFloats.bf16ToF32(HalfFloats.f32ToBf16(w)));
                        }
                    }
                }
            }
        }
    }

    @Test
    void shardedCheckpointHoldsTheSameWeights() throws Exception {
        Path single = dir.resolve("single");
        Path sharded = dir.resolve("sharded");
        RandomCheckpointWriter.write(single, GQA, TensorDType.BF16, 3);
        RandomCheckpointWriter.write(sharded, GQA, TensorDType.BF16, 3, 8 * 1024);

        int shardCount;
        try (Stream<Path> files = Files.list(sharded)) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            shardCount = names.size() - 2;
            assertThat(shardCount).isGreaterThan(2);
            List<String> expected = new ArrayList<>(List.of("config.json"));
            for (int i = 1; i <= shardCount; i++) {
                expected.add(String.format("model-%05d-of-%05d.safetensors", i, shardCount));
            }
            expected.add("model.safetensors.index.json");
            assertThat(names).containsExactlyElementsOf(expected);
            for (int i = 1; i <= shardCount; i++) {
                // Every shard respects the limit (no single tensor of this model exceeds it).
                assertThat(Files.size(sharded.resolve(expected.get(i)))).isLessThan(8 * 1024 + 4096);
            }
        }
        try (SafetensorsCheckpoint a = SafetensorsCheckpoint.open(single);
                SafetensorsCheckpoint b = SafetensorsCheckpoint.open(sharded)) {
            LlamaCheckpointLayout.validate(GQA, b);
            assertThat(b.files()).hasSize(shardCount);
            assertThat(b.tensorNames()).containsExactlyElementsOf(a.tensorNames());
            for (String name : a.tensorNames()) {
                assertThat(b.readFloats(name)).containsExactly(a.readFloats(name));
            }
        }
        // Rewriting a folder replaces the old checkpoint instead of mixing files.
        RandomCheckpointWriter.write(sharded, GQA, TensorDType.F32, 3);
        try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(sharded)) {
            assertThat(c.files()).hasSize(1);
            assertThat(Files.exists(sharded.resolve("model.safetensors.index.json"))).isFalse();
        }
    }

    @Test
    void tiedModelsHaveNoLmHeadAndBiasedOnesHaveBiases() {
        ModelConfig tiedWithBias = new ModelConfig("qwen2", 32, 48, 1, 4, 2, 8, 50, 64, 1e-6, 1e6, null, true, true,
                -1, new int[] {3});
        RandomCheckpointWriter.write(dir, tiedWithBias, TensorDType.F32, 1);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            LlamaCheckpointLayout.validate(tiedWithBias, checkpoint);
            assertThat(checkpoint.contains("lm_head.weight")).isFalse();
            assertThat(checkpoint.info("model.layers.0.self_attn.k_proj.bias").shape()).containsExactly(16);
        }
        assertThat(ModelConfig.load(dir)).isEqualTo(tiedWithBias);
    }

    @Test
    void weightsAreWellScaledAndDeterministic() {
        ExpectedTensor projection = new ExpectedTensor("model.layers.0.mlp.up_proj.weight", new long[] {256, 256});
        ExpectedTensor norm = new ExpectedTensor("model.layers.0.input_layernorm.weight", new long[] {4096});
        float[] p = RandomCheckpointWriter.values(projection, 11);
        assertThat(mean(p)).isCloseTo(0, within(0.001));
        assertThat(Math.sqrt(meanSquare(p))).isCloseTo(0.02, within(0.001));
        float[] n = RandomCheckpointWriter.values(norm, 11);
        assertThat(mean(n)).isCloseTo(1, within(0.01));
        // Plain Arrays.equals: AssertJ's element-wise diffing is slow on 65K floats.
        assertThat(Arrays.equals(RandomCheckpointWriter.values(projection, 11), p)).isTrue();
        assertThat(Arrays.equals(RandomCheckpointWriter.values(projection, 12), p)).isFalse();
    }

    @Test
    void randomModelsGiveNonDegenerateLogits() {
        RandomCheckpointWriter.write(dir, GQA, TensorDType.F32, 5);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            double[][] logits = new ReferenceLlama(GQA, checkpoint).logits(new int[] {1, 7, 9, 30, 49});
            for (double[] row : logits) {
                double min = Double.MAX_VALUE;
                double max = -Double.MAX_VALUE;
                for (double value : row) {
                    assertThat(value).isFinite();
                    min = Math.min(min, value);
                    max = Math.max(max, value);
                }
                assertThat(max - min).isBetween(0.05, 50.0);
            }
        }
    }

    @Test
    void commandLineWritesAndReports() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = RandomCheckpointWriter.run(new String[] {"--out", dir.toString(), "--hidden", "32", "--layers",
                "1", "--heads", "4", "--kv-heads", "2", "--intermediate", "48", "--vocab", "64", "--max-pos", "128",
                "--dtype", "bf16", "--seed", "9", "--tied"}, print(out), print(err));
        assertThat(status).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("model.safetensors", "config.json", "BF16");
        ModelConfig config = ModelConfig.load(dir);
        assertThat(config.tieWordEmbeddings()).isTrue();
        assertThat(config.numKvHeads()).isEqualTo(2);

        assertThat(RandomCheckpointWriter.run(new String[] {"--hidden", "32"}, print(out), print(err))).isEqualTo(2);
        assertThat(RandomCheckpointWriter.run(new String[] {"--out", "x", "--dtype", "I8"}, print(out), print(err)))
                .isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--out is required", "unsupported dtype 'I8'");
    }

    private static PrintStream print(ByteArrayOutputStream sink) {
        return new PrintStream(sink, true, StandardCharsets.UTF_8);
    }

    private static double mean(float[] values) {
        double sum = 0;
        for (float v : values) {
            sum += v;
        }
        return sum / values.length;
    }

    private static double meanSquare(float[] values) {
        double sum = 0;
        for (float v : values) {
            sum += (double) v * v;
        }
        return sum / values.length;
    }

    private static String readString(Path file) {
        try {
            return Files.readString(file);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
