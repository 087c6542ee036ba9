package dev.quire.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MklPackedGemmTest {

    /** PyTorch's Linux x86-64 CPU library carries MKL, so the packed GEMM must be found there. */
    static boolean mklExpected() {
        return System.getProperty("os.name").startsWith("Linux") && System.getProperty("os.arch").equals("amd64");
    }

    @Test
    void isFoundInPyTorchsLibraryOnLinuxX86() {
        assertThat(MklPackedGemm.available().isPresent()).isEqualTo(mklExpected());
    }

    /**
     * One packing serves every row count: single decodes, batches smaller and larger than the
     * count it was packed for, and prefill chunks, on shapes that are not multiples of MKL's blocks.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 7, 16, 17, 64, 301})
    void multipliesLikeMatmulForAnyRowCount(int rows) {
        MklPackedGemm gemm = MklPackedGemm.available().orElse(null);
        org.junit.jupiter.api.Assumptions.assumeTrue(gemm != null, "no MKL in this PyTorch build");
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray weight = m.randomNormal(new Shape(83, 129));
            NDArray x = m.randomNormal(new Shape(rows, 83));
            try (Projection packed = gemm.pack(weight)) {
                NDArray expected = x.matMul(weight);
                NDArray got = packed.apply(x);
                assertThat(got.getShape()).isEqualTo(new Shape(rows, 129));
                float scale = expected.abs().max().getFloat();
                assertThat(got.sub(expected).abs().max().getFloat() / scale).isLessThan(1e-5f);
                assertThat(got.getManager()).isSameAs(x.getManager());
            }
        }
    }

    @Test
    void acceptsStridedInputsAndRejectsWrongShapes() {
        MklPackedGemm gemm = MklPackedGemm.available().orElse(null);
        org.junit.jupiter.api.Assumptions.assumeTrue(gemm != null, "no MKL in this PyTorch build");
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray weight = m.randomNormal(new Shape(32, 48));
            NDArray transposed = m.randomNormal(new Shape(32, 5)).transpose(); // a [5, 32] view
            try (Projection packed = gemm.pack(weight)) {
                NDArray got = packed.apply(transposed);
                assertThat(got.sub(transposed.matMul(weight)).abs().max().getFloat()).isLessThan(1e-4f);
                assertThatThrownBy(() -> packed.apply(m.randomNormal(new Shape(5, 31))))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[rows, 32]");
                assertThatThrownBy(() -> packed.apply(m.ones(new Shape(5, 32), DataType.FLOAT64)))
                        .isInstanceOf(IllegalArgumentException.class);
            }
            assertThatThrownBy(() -> gemm.pack(m.ones(new Shape(2, 3, 4))))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }
}
