package dev.quire.worker.model;

import java.util.Locale;

/**
 * The floating-point element types Quire reads from and writes to safetensors files. A file may
 * hold tensors of other types (for example {@code I64} buffers); those can be listed but reading
 * them throws {@link CheckpointException}.
 */
public enum TensorDType {
    /** IEEE 754 binary32. */
    F32(4),
    /** IEEE 754 binary16. */
    F16(2),
    /** bfloat16: the top 16 bits of a binary32. */
    BF16(2);

    private final int byteSize;

    TensorDType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** @return bytes per element */
    public int byteSize() {
        return byteSize;
    }

    /**
     * Parses a dtype name as written in safetensors headers and on command lines (case-insensitive).
     *
     * @throws IllegalArgumentException for anything but F32, F16 and BF16
     */
    public static TensorDType parse(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "unsupported dtype '" + name + "' (supported: F32, F16, BF16)", e);
        }
    }
}
