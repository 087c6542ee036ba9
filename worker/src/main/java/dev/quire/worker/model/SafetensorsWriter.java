package dev.quire.worker.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes a .safetensors file from float32 values, encoding each tensor as F32, F16 or BF16
 * (rounding to nearest even). Tensors are declared up front (the header comes first in the file)
 * and then streamed in declaration order, so a large checkpoint never has to be in memory at once.
 *
 * <pre>{@code
 * try (SafetensorsWriter w = SafetensorsWriter.create(file, specs, Map.of("format", "pt"))) {
 *     for (TensorSpec spec : specs) w.write(spec.name(), valuesOf(spec));
 * }
 * }</pre>
 */
public final class SafetensorsWriter implements AutoCloseable {

    /**
     * A tensor to be written.
     *
     * @param name its name
     * @param dtype how its values are stored
     * @param shape its dimensions, outermost first
     */
    public record TensorSpec(String name, TensorDType dtype, long[] shape) {
        /** Copies the shape. */
        public TensorSpec {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(dtype, "dtype");
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** @return the number of elements */
        public long numElements() {
            return TensorInfo.numElements(shape);
        }

        /** @return bytes of data in the file */
        public long byteSize() {
            return numElements() * dtype.byteSize();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof TensorSpec t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape);
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, dtype, Arrays.hashCode(shape));
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape);
        }
    }

    /**
     * A tensor with its values, for {@link #writeAll}.
     *
     * @param spec name, dtype and shape
     * @param values row-major float32 values, as many as the shape has elements
     */
    public record Tensor(TensorSpec spec, float[] values) {
        /** Convenience constructor. */
        public Tensor(String name, TensorDType dtype, long[] shape, float[] values) {
            this(new TensorSpec(name, dtype, shape), values);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHUNK_ELEMENTS = 1 << 20;

    private final Path file;
    private final FileChannel channel;
    private final List<TensorSpec> specs;
    private int next;

    private SafetensorsWriter(Path file, FileChannel channel, List<TensorSpec> specs) {
        this.file = file;
        this.channel = channel;
        this.specs = specs;
    }

    /**
     * Creates (or replaces) a file and writes its header; data offsets follow declaration order.
     *
     * @param metadata the {@code __metadata__} string map (Hugging Face expects {@code format: pt}); may be empty
     * @throws IllegalArgumentException for duplicate names
     * @throws CheckpointException on I/O errors
     */
    public static SafetensorsWriter create(Path file, List<TensorSpec> tensors, Map<String, String> metadata) {
        List<TensorSpec> specs = List.copyOf(tensors);
        Set<String> names = new HashSet<>();
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (TensorSpec spec : specs) {
            if (!names.add(spec.name()) || spec.name().equals("__metadata__")) {
                throw new IllegalArgumentException("duplicate or reserved tensor name '" + spec.name() + "'");
            }
            ObjectNode entry = header.putObject(spec.name());
            entry.put("dtype", spec.dtype().name());
            var shape = entry.putArray("shape");
            for (long d : spec.shape()) {
                shape.add(d);
            }
            entry.putArray("data_offsets").add(offset).add(offset + spec.byteSize());
            offset += spec.byteSize();
        }
        byte[] json;
        try {
            json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer start = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        start.putLong(padded).put(json);
        while (start.hasRemaining()) {
            start.put((byte) ' ');
        }
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot create: " + e.getMessage(), e);
        }
        SafetensorsWriter writer = new SafetensorsWriter(file, channel, specs);
        try {
            writer.writeFully(start.flip());
        } catch (RuntimeException e) {
            writer.closeChannel(e);
            throw e;
        }
        return writer;
    }

    /** Writes a whole file at once: {@code format: pt} metadata, tensors in the given order. */
    public static void writeAll(Path file, List<Tensor> tensors) {
        try (SafetensorsWriter writer =
                create(file, tensors.stream().map(Tensor::spec).toList(), Map.of("format", "pt"))) {
            for (Tensor tensor : tensors) {
                writer.write(tensor.spec().name(), tensor.values());
            }
        }
    }

    /**
     * Writes the values of the next declared tensor.
     *
     * @throws IllegalStateException if {@code name} is not the next declared tensor
     * @throws IllegalArgumentException if the value count does not match its shape
     */
    public void write(String name, float[] values) {
        if (next >= specs.size() || !specs.get(next).name().equals(name)) {
            throw new IllegalStateException("expected tensor "
                    + (next < specs.size() ? "'" + specs.get(next).name() + "'" : "none (all written)")
                    + " but got '" + name + "'");
        }
        TensorSpec spec = specs.get(next);
        if (values.length != spec.numElements()) {
            throw new IllegalArgumentException(
                    "tensor '" + name + "' " + spec + " needs " + spec.numElements() + " values, got " + values.length);
        }
        int elementBytes = spec.dtype().byteSize();
        ByteBuffer buffer = ByteBuffer.allocate(Math.min(values.length, CHUNK_ELEMENTS) * elementBytes)
                .order(ByteOrder.LITTLE_ENDIAN);
        for (int done = 0; done < values.length; ) {
            int n = Math.min(CHUNK_ELEMENTS, values.length - done);
            buffer.clear();
            switch (spec.dtype()) {
                case F32 -> {
                    buffer.asFloatBuffer().put(values, done, n);
                    buffer.position(n * 4);
                }
                case F16 -> {
                    for (int i = 0; i < n; i++) {
                        buffer.putShort(HalfFloats.f32ToF16(values[done + i]));
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < n; i++) {
                        buffer.putShort(HalfFloats.f32ToBf16(values[done + i]));
                    }
                }
            }
            writeFully(buffer.flip());
            done += n;
        }
        next++;
    }

    /**
     * Closes the file.
     *
     * @throws IllegalStateException if some declared tensors were not written (the file would be truncated)
     */
    @Override
    public void close() {
        IllegalStateException incomplete = next == specs.size() ? null
                : new IllegalStateException(file.getFileName() + ": closed after " + next + " of " + specs.size()
                        + " tensors; the file is incomplete");
        try {
            channel.close();
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot close: " + e.getMessage(), e);
        }
        if (incomplete != null) {
            throw incomplete;
        }
    }

    private void writeFully(ByteBuffer buffer) {
        try {
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot write: " + e.getMessage(), e);
        }
    }

    private void closeChannel(RuntimeException primary) {
        try {
            channel.close();
        } catch (IOException e) {
            primary.addSuppressed(e);
        }
    }
}
