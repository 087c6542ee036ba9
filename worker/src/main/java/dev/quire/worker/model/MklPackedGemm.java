package dev.quire.worker.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.LibUtils;
import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * MKL's packed single-precision GEMM ({@code cblas_sgemm_pack} / {@code cblas_sgemm_compute}),
 * called in the copy of MKL that PyTorch's x86 CPU library carries and exports.
 *
 * <p>A plain GEMM re-packs the weight matrix into MKL's blocked layout on every call, which at
 * the few rows of a decode step costs about as much as the multiplication itself. Packing each
 * weight once at load removes that: on the 2-core test machine it took the benchmark model from
 * 137 to 178 output tokens/s at 16 concurrent requests (worker/benchmarks/kernels.md). The packed
 * copy replaces the PyTorch weight, so memory does not grow.
 */
final class MklPackedGemm {
    private static final Logger LOG = LoggerFactory.getLogger(MklPackedGemm.class);
    /** Set to false to multiply with PyTorch's matmul instead. */
    static final String ENABLED_PROPERTY = "quire.cpu.packed-gemm";

    // CBLAS enum values from mkl_cblas.h.
    private static final int ROW_MAJOR = 101;
    private static final int NO_TRANS = 111;
    private static final int PACKED = 151;
    private static final int B_MATRIX = 162;
    /** Packing needs a row count; any count multiplies correctly, this one is the decode batch it is tuned for. */
    private static final int PACK_ROWS = 16;
    private static final int ALIGNMENT = 64;

    private final Function packSize;
    private final Function pack;
    private final Function compute;

    private MklPackedGemm(NativeLibrary library) {
        this.packSize = library.getFunction("cblas_sgemm_pack_get_size");
        this.pack = library.getFunction("cblas_sgemm_pack");
        this.compute = library.getFunction("cblas_sgemm_compute");
    }

    /**
     * The packed GEMM of the loaded PyTorch library, if it carries MKL (x86 builds do) and it is
     * not turned off with {@value #ENABLED_PROPERTY}{@code =false}.
     */
    static Optional<MklPackedGemm> available() {
        return Loaded.INSTANCE;
    }

    /** Looked up on first use only (class initialisation is lazy and thread-safe). */
    private static final class Loaded {
        static final Optional<MklPackedGemm> INSTANCE =
                Boolean.parseBoolean(System.getProperty(ENABLED_PROPERTY, "true")) ? find() : Optional.empty();
    }

    private static Optional<MklPackedGemm> find() {
        try {
            LibUtils.loadLibrary();
            Path library = Path.of(LibUtils.getLibtorchPath()).resolve(System.mapLibraryName("torch_cpu"));
            if (!Files.isRegularFile(library)) {
                LOG.info("PyTorch CPU library not found at {}; CPU matmuls use PyTorch's", library);
                return Optional.empty();
            }
            return Optional.of(new MklPackedGemm(NativeLibrary.getInstance(library.toString())));
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            LOG.info("MKL packed GEMM unavailable ({}); CPU matmuls use PyTorch's", e.toString());
            return Optional.empty();
        }
    }

    /** Packs {@code weight}, a contiguous float32 CPU array of shape {@code [in, out]}. */
    Projection pack(NDArray weight) {
        Shape shape = weight.getShape();
        if (shape.dimension() != 2 || weight.getDataType() != DataType.FLOAT32 || !Device.Type.CPU.equals(weight.getDevice().getDeviceType())) {
            throw new IllegalArgumentException("packs a 2-D float32 CPU matrix, got " + shape + " "
                    + weight.getDataType() + " on " + weight.getDevice());
        }
        int in = Math.toIntExact(shape.get(0));
        int out = Math.toIntExact(shape.get(1));
        long bytes = ((Number) packSize.invoke(long.class, new Object[]{B_MATRIX, PACK_ROWS, out, in})).longValue();
        Memory buffer = new Memory(bytes + ALIGNMENT);
        Pointer packed = buffer.align(ALIGNMENT);
        pack.invoke(Void.class, new Object[]{ROW_MAJOR, B_MATRIX, NO_TRANS, PACK_ROWS, out, in, 1f,
                CpuArrays.address(weight), out, packed});
        return new PackedProjection(buffer, packed, in, out);
    }

    private final class PackedProjection implements Projection {
        private final Memory buffer;
        private final Pointer packed;
        private final int in;
        private final int out;

        PackedProjection(Memory buffer, Pointer packed, int in, int out) {
            this.buffer = buffer;
            this.packed = packed;
            this.in = in;
            this.out = out;
        }

        @Override
        public NDArray apply(NDArray x) {
            Shape shape = x.getShape();
            if (shape.dimension() != 2 || shape.get(1) != in || x.getDataType() != DataType.FLOAT32) {
                throw new IllegalArgumentException("expected float32 [rows, " + in + "], got " + shape + " "
                        + x.getDataType());
            }
            int rows = Math.toIntExact(shape.get(0));
            NDArray result = x.getManager().create(new Shape(rows, out), DataType.FLOAT32);
            if (rows > 0) {
                // beta = 0: the uninitialised result is only written.
                compute.invoke(Void.class, new Object[]{ROW_MAJOR, NO_TRANS, PACKED, rows, out, in,
                        CpuArrays.address(x), in, packed, out, 0f, CpuArrays.address(result), out});
            }
            return result;
        }

        @Override
        public void close() {
            buffer.close();
        }
    }
}
