package dev.quire.worker.model;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The paged, batched DJL forward pass against the double-precision full-recompute reference, on
 * random models the test generates.
 */
class LlamaModelTest {
    static final int BLOCK = 4;

    @TempDir
    Path dir;

    static Stream<Arguments> models() {
        return Stream.of(
                Arguments.of("GQA, untied head", new ModelConfig("llama", 48, 96, 2, 6, 2, 8, 97, 128, 1e-5, 10000.0,
                        null, false, false, 1, new int[]{2})),
                Arguments.of("MHA, tied head", new ModelConfig("llama", 32, 64, 2, 4, 4, 8, 61, 128, 1e-6, 500000.0,
                        null, true, false, 1, new int[]{2})),
                Arguments.of("qwen2-style biases, multi-query", new ModelConfig("qwen2", 32, 80, 3, 4, 1, 8, 53, 128,
                        1e-6, 1000000.0, null, false, true, 1, new int[]{2})),
                Arguments.of("llama3 rope scaling", new ModelConfig("llama", 32, 64, 2, 4, 2, 8, 71, 128, 1e-5,
                        500000.0, new RopeScaling("llama3", 8.0, 1.0, 4.0, 16), false, false, 1, new int[]{2})));
    }

    /**
     * Every model with each set of CPU kernels: MKL's packed GEMM with the native decode attention
     * (when built), and PyTorch's matmul with the block gather.
     */
    static Stream<Arguments> modelsAndKernels() {
        return models().flatMap(m -> Stream.of(true, false)
                .map(packed -> Arguments.of(m.get()[0], m.get()[1], packed)));
    }

    /**
     * Random sequences advance through random mixes of prefill chunks and single-token decodes, all
     * sequences of a step in one batch, their blocks scattered over the cache. Every logits row
     * must match the reference at that position.
     */
    @ParameterizedTest(name = "{0}, native CPU kernels {2}")
    @MethodSource("modelsAndKernels")
    void pagedBatchedForwardMatchesTheReference(String name, ModelConfig config, boolean packed) throws Exception {
        RandomCheckpointWriter.write(dir, config, TensorDType.F32, 42);
        Random random = new Random(name.hashCode());
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir);
             LlamaModel model = LlamaModel.load(config, checkpoint, Device.cpu(), DataType.FLOAT32, packed, packed);
             PagedKvCache cache = model.newKvCache(200, BLOCK)) {
            assertThat(model.matmulKernel()).isEqualTo(packed && MklPackedGemmTest.mklExpected()
                    ? "MKL packed GEMM" : "PyTorch matmul");
            assertThat(model.attentionKernel()).isEqualTo(packed && PagedAttentionKernel.available().isPresent()
                    ? "native paged kernel" : "block gather");
            ReferenceLlama reference = new ReferenceLlama(config, checkpoint);
            int numSeqs = 6;
            int[][] tokens = new int[numSeqs][];
            double[][][] expected = new double[numSeqs][][];
            int[] computed = new int[numSeqs];
            List<List<Integer>> tables = new ArrayList<>();
            List<Integer> free = new ArrayList<>();
            for (int b = 0; b < 200; b++) {
                free.add(b);
            }
            Collections.shuffle(free, random);
            for (int s = 0; s < numSeqs; s++) {
                tokens[s] = random.ints(5 + random.nextInt(40), 0, config.vocabSize()).toArray();
                expected[s] = reference.logits(tokens[s]);
                tables.add(new ArrayList<>());
            }
            double worst = 0;
            int rowsChecked = 0;
            while (true) {
                ForwardBatch.Builder builder = new ForwardBatch.Builder(BLOCK);
                List<int[]> stepSeqs = new ArrayList<>(); // {seq, start, len}
                for (int s = 0; s < numSeqs; s++) {
                    int left = tokens[s].length - computed[s];
                    if (left == 0 || random.nextInt(4) == 0) {
                        continue;
                    }
                    int len = random.nextBoolean() ? 1 : 1 + random.nextInt(left);
                    int start = computed[s];
                    while (tables.get(s).size() * BLOCK < start + len) {
                        tables.get(s).add(free.remove(free.size() - 1));
                    }
                    int[] chunk = new int[len];
                    int[] slots = new int[len];
                    for (int i = 0; i < len; i++) {
                        chunk[i] = tokens[s][start + i];
                        int pos = start + i;
                        slots[i] = tables.get(s).get(pos / BLOCK) * BLOCK + pos % BLOCK;
                    }
                    builder.add(start, chunk, slots, tables.get(s).stream().mapToInt(Integer::intValue).toArray(), true);
                    stepSeqs.add(new int[]{s, start, len});
                }
                if (builder.isEmpty()) {
                    boolean allDone = true;
                    for (int s = 0; s < numSeqs; s++) {
                        allDone &= computed[s] == tokens[s].length;
                    }
                    if (allDone) {
                        break;
                    }
                    continue;
                }
                ForwardBatch batch = builder.build();
                float[] logits = model.forward(batch, cache);
                int vocab = config.vocabSize();
                for (int row = 0; row < batch.sampleSeqs().length; row++) {
                    int[] seq = stepSeqs.get(batch.sampleSeqs()[row]);
                    double[] ref = expected[seq[0]][seq[1] + seq[2] - 1];
                    worst = Math.max(worst, relativeError(logits, row * vocab, ref));
                    rowsChecked++;
                }
                for (int[] seq : stepSeqs) {
                    computed[seq[0]] += seq[2];
                }
            }
            assertThat(rowsChecked).isGreaterThan(numSeqs);
            assertThat(worst).as("max relative logit error").isLessThan(1e-4);
        }
    }

    @Test
    void greedyDecodingThroughThePagedCacheMatchesTheReference() throws Exception {
        ModelConfig config = new ModelConfig("llama", 48, 96, 2, 6, 2, 8, 97, 128, 1e-5, 10000.0, null, false, false,
                1, new int[]{2});
        RandomCheckpointWriter.write(dir, config, TensorDType.F32, 7);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir);
             LlamaModel model = LlamaModel.load(config, checkpoint, Device.cpu(), DataType.FLOAT32);
             PagedKvCache cache = model.newKvCache(64, BLOCK)) {
            int[] prompt = {1, 17, 42, 5, 88};
            int steps = 40;
            int[] expected = new ReferenceLlama(config, checkpoint).greedy(prompt, steps);

            int[] table = new int[(prompt.length + steps + BLOCK - 1) / BLOCK];
            for (int i = 0; i < table.length; i++) {
                table[i] = 63 - 2 * i; // deliberately non-contiguous blocks
            }
            int[] out = new int[steps];
            int[] chunk = prompt;
            int start = 0;
            for (int i = 0; i < steps; i++) {
                int[] slots = new int[chunk.length];
                for (int j = 0; j < chunk.length; j++) {
                    int pos = start + j;
                    slots[j] = table[pos / BLOCK] * BLOCK + pos % BLOCK;
                }
                float[] logits = model.forward(new ForwardBatch.Builder(BLOCK)
                        .add(start, chunk, slots, table, true).build(), cache);
                int best = 0;
                for (int v = 1; v < config.vocabSize(); v++) {
                    if (logits[v] > logits[best]) {
                        best = v;
                    }
                }
                out[i] = best;
                start += chunk.length;
                chunk = new int[]{best};
            }
            assertThat(out).containsExactly(expected);
        }
    }

    /** max |a - b| over the row, relative to the row's largest reference magnitude. */
    static double relativeError(float[] actual, int offset, double[] expected) {
        double maxRef = 0;
        double maxDiff = 0;
        for (int i = 0; i < expected.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
            maxDiff = Math.max(maxDiff, Math.abs(actual[offset + i] - expected[i]));
        }
        return maxDiff / Math.max(maxRef, 1e-12);
    }
}
