package dev.quire.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The native decode-attention kernel against a plain double-precision attention over the same cache. */
class PagedAttentionKernelTest {

    /**
     * The build compiles the kernel wherever there is a C compiler (worker/pom.xml), and CI must
     * have one: there, or with a compiler, the tests below must not skip.
     */
    @Test
    void isBuiltWhereverThereIsACompiler() throws Exception {
        boolean compiler = new ProcessBuilder("bash", "-c", "command -v cc").start().waitFor() == 0;
        Assumptions.assumeTrue(compiler || "true".equals(System.getenv("CI")), "no C compiler here");
        assertThat(PagedAttentionKernel.available()).as("built into %s", System.getProperty(
                PagedAttentionKernel.DIR_PROPERTY)).isPresent();
    }

    @ParameterizedTest(name = "heads {0}, kv heads {1}, head dim {2}, block {3}, seqs {4}")
    @CsvSource({
            "4, 4, 64, 16, 5",  // multi-head, context lengths across block edges
            "8, 2, 20, 4, 7",   // grouped queries; head dim not a multiple of the kernel's 16 lanes
            "6, 1, 8, 3, 3",    // multi-query, tiny heads, odd block size
            "4, 2, 16, 4, 0"})  // an empty batch
    void matchesDenseAttentionOverTheBlockTables(int heads, int kvHeads, int headDim, int blockSize, int seqs) {
        PagedAttentionKernel kernel = PagedAttentionKernel.available().orElse(null);
        Assumptions.assumeTrue(kernel != null, "kernel not built (no C compiler)");
        int numBlocks = 64;
        Random random = new Random(heads * 31L + seqs);
        List<Integer> free = new ArrayList<>();
        for (int b = 0; b < numBlocks; b++) {
            free.add(b);
        }
        Collections.shuffle(free, random);
        int[] lens = new int[seqs];
        int maxBlocks = 1;
        for (int s = 0; s < seqs; s++) {
            lens[s] = 1 + random.nextInt(6 * blockSize);
            maxBlocks = Math.max(maxBlocks, (lens[s] + blockSize - 1) / blockSize);
        }
        long[] tables = new long[seqs * maxBlocks];
        for (int s = 0; s < seqs; s++) {
            for (int b = 0; b < (lens[s] + blockSize - 1) / blockSize; b++) {
                tables[s * maxBlocks + b] = free.remove(free.size() - 1);
            }
        }
        try (NDManager m = NDManager.newBaseManager()) {
            float[] keys = randoms(random, kvHeads * numBlocks * blockSize * headDim);
            float[] values = randoms(random, keys.length);
            float[] q = randoms(random, seqs * heads * headDim);
            Shape rows = new Shape((long) kvHeads * numBlocks, (long) blockSize * headDim);
            NDArray got = kernel.decode(m.create(q, new Shape(seqs, heads, headDim)), m.create(keys, rows),
                    m.create(values, rows), kvHeads, PagedAttentionKernel.DecodeTables.of(tables, lens, numBlocks, blockSize));
            assertThat(got.getShape()).isEqualTo(new Shape(seqs, (long) heads * headDim));
            float[] out = got.toFloatArray();
            for (int s = 0; s < seqs; s++) {
                for (int h = 0; h < heads; h++) {
                    int g = h / (heads / kvHeads);
                    double[] scores = new double[lens[s]];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int t = 0; t < lens[s]; t++) {
                        int slot = (int) ((g * numBlocks + tables[s * maxBlocks + t / blockSize]) * blockSize + t % blockSize);
                        for (int i = 0; i < headDim; i++) {
                            scores[t] += (double) q[(s * heads + h) * headDim + i] * keys[slot * headDim + i];
                        }
                        max = Math.max(max, scores[t]);
                    }
                    double sum = 0;
                    for (int t = 0; t < lens[s]; t++) {
                        scores[t] = Math.exp(scores[t] - max);
                        sum += scores[t];
                    }
                    for (int i = 0; i < headDim; i++) {
                        double expected = 0;
                        for (int t = 0; t < lens[s]; t++) {
                            int slot = (int) ((g * numBlocks + tables[s * maxBlocks + t / blockSize]) * blockSize + t % blockSize);
                            expected += scores[t] / sum * values[slot * headDim + i];
                        }
                        assertThat((double) out[(s * heads + h) * headDim + i])
                                .as("seq %d head %d dim %d", s, h, i).isCloseTo(expected, org.assertj.core.data.Offset.offset(2e-5));
                    }
                }
            }
        }
    }

    /** Block ids and lengths that would make the kernel read outside the cache are refused, not read. */
    @Test
    void refusesTablesPointingOutsideTheCache() {
        PagedAttentionKernel kernel = PagedAttentionKernel.available().orElse(null);
        Assumptions.assumeTrue(kernel != null, "kernel not built (no C compiler)");
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.ones(new Shape(1, 2, 4));
            NDArray cache = m.zeros(new Shape(2 * 8, 4 * 4));
            assertThatThrownBy(() -> PagedAttentionKernel.DecodeTables.of(new long[]{8, 0}, new int[]{5}, 8, 4))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("block id 8");
            assertThatThrownBy(() -> PagedAttentionKernel.DecodeTables.of(new long[]{1, 2}, new int[]{9}, 8, 4))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("context length 9");
            assertThatThrownBy(() -> kernel.decode(q, cache, cache, 2,
                    PagedAttentionKernel.DecodeTables.of(new long[]{1, 2}, new int[]{3}, 9, 4)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("caches");
            assertThat(kernel.decode(q, cache, cache, 2,
                    PagedAttentionKernel.DecodeTables.of(new long[]{1, 2}, new int[]{8}, 8, 4)).getShape())
                    .isEqualTo(new Shape(1, 8));
        }
    }

    private static float[] randoms(Random random, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian();
        }
        return out;
    }
}
