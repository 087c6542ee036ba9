package dev.quire.worker.model;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * What a safetensors header says about one tensor.
 *
 * @param name the tensor's name, e.g. {@code model.layers.0.self_attn.q_proj.weight}
 * @param dtype its element type
 * @param shape its dimensions, outermost first (row-major data); empty for a scalar
 * @param file the .safetensors file holding it
 */
public record TensorInfo(String name, TensorDType dtype, long[] shape, Path file) {

    /** Copies the shape so the record stays immutable. */
    public TensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        shape = shape.clone();
        Objects.requireNonNull(file, "file");
    }

    /** @return a copy of the dimensions */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** @return the product of the dimensions (1 for a scalar) */
    public long numElements() {
        return numElements(shape);
    }

    /** @return bytes of data: elements times element size */
    public long byteSize() {
        return numElements() * dtype.byteSize();
    }

    static long numElements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t
                && name.equals(t.name)
                && dtype == t.dtype
                && Arrays.equals(shape, t.shape)
                && file.equals(t.file);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), file);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " in " + file.getFileName();
    }
}
