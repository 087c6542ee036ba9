package dev.quire.worker.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quire.worker.model.SafetensorsWriter.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsCheckpointTest {

    @TempDir
    Path dir;

    /** Writes a file by hand: 8-byte little-endian header length, header JSON, data. */
    private Path rawFile(String name, long headerLength, String header, byte[] data) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer bytes = ByteBuffer.allocate(8 + json.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putLong(headerLength).put(json).put(data);
        Path file = dir.resolve(name);
        Files.write(file, bytes.array());
        return file;
    }

    private Path rawFile(String header, byte[] data) throws IOException {
        return rawFile("model.safetensors", header.getBytes(StandardCharsets.UTF_8).length, header, data);
    }

    private static byte[] shorts(int... values) {
        ByteBuffer buffer = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) {
            buffer.putShort((short) v);
        }
        return buffer.array();
    }

    @Test
    void readsHandWrittenF16AndBf16Bits() throws IOException {
        rawFile("""
                {"__metadata__": {"format": "pt"},
                 "h": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]},
                 "b": {"dtype": "BF16", "shape": [6], "data_offsets": [12, 24]}}""",
                concat(shorts(0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00, 0xfe00),
                        shorts(0x3f80, 0xc020, 0x0001, 0x7f80, 0xff80, 0xffc0)));
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertThat(checkpoint.tensorNames()).containsExactly("h", "b");
            assertThat(checkpoint.info("h").dtype()).isEqualTo(TensorDType.F16);
            assertThat(checkpoint.info("h").shape()).containsExactly(2, 3);
            assertThat(checkpoint.info("h").numElements()).isEqualTo(6);
            float[] h = checkpoint.readFloats("h");
            assertThat(h).startsWith(1f, -2f, 0x1p-24f, 65504f, Float.POSITIVE_INFINITY);
            assertThat(h[5]).isNaN();
            float[] b = checkpoint.readFloats("b");
            assertThat(b).startsWith(1f, -2.5f, Float.intBitsToFloat(0x00010000), Float.POSITIVE_INFINITY,
                    Float.NEGATIVE_INFINITY);
            assertThat(b[5]).isNaN();
            assertThat(checkpoint.readBytes("b").remaining()).isEqualTo(12);
        }
    }

    @Test
    void writerAndReaderAgreeForEveryDtype() {
        float[] values = {0f, -0f, 1f, -2.5f, 0.1f, -1234.5f, 1e-6f, -3e-8f, 65504f, 1e5f, Float.MIN_VALUE,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
        long[] shape = {2, 7};
        SafetensorsWriter.writeAll(dir.resolve("model.safetensors"), List.of(
                new Tensor("f32", TensorDType.F32, shape, values),
                new Tensor("f16", TensorDType.F16, shape, values),
                new Tensor("bf16", TensorDType.BF16, shape, values)));
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            float[] f32 = checkpoint.readFloats("f32");
            for (int i = 0; i < values.length; i++) {
                assertThat(Float.floatToRawIntBits(f32[i])).isEqualTo(Float.floatToRawIntBits(values[i]));
            }
            // F16: ~3 significant digits, 65504 max (1e5 overflows to inf), subnormals down to 6e-8
            // (-3e-8 rounds to the smallest one); ties go to even (-1234.5 -> -1234).
            assertThat(checkpoint.readFloats("f16")).containsExactly(0f, -0f, 1f, -2.5f, 0.0999755859375f, -1234.0f,
                    1.0132789611816406e-6f, -0x1p-24f, 65504f, Float.POSITIVE_INFINITY, 0f, Float.POSITIVE_INFINITY,
                    Float.NEGATIVE_INFINITY, Float.NaN);
            // BF16: float32's range, ~2-3 significant digits; float32's smallest subnormal rounds to 0.
            assertThat(checkpoint.readFloats("bf16")).containsExactly(0f, -0f, 1f, -2.5f, 0.10009765625f, -1232.0f,
                    9.98377799987793e-7f, -3.003515303134918e-8f, 65536f, 99840f, 0f, Float.POSITIVE_INFINITY,
                    Float.NEGATIVE_INFINITY, Float.NaN);
            assertThat(checkpoint.info("bf16").file().getFileName().toString()).isEqualTo("model.safetensors");
        }
    }

    @Test
    void readsShardedCheckpointsThroughTheIndex() throws IOException {
        SafetensorsWriter.writeAll(dir.resolve("model-00001-of-00002.safetensors"),
                List.of(new Tensor("a", TensorDType.F32, new long[] {2}, new float[] {1, 2})));
        SafetensorsWriter.writeAll(dir.resolve("model-00002-of-00002.safetensors"),
                List.of(new Tensor("b", TensorDType.BF16, new long[] {1, 3}, new float[] {3, 4, 5}),
                        new Tensor("c", TensorDType.F16, new long[] {}, new float[] {6})));
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"metadata": {"total_size": 16},
                 "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
                                "c": "model-00002-of-00002.safetensors"}}""");
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertThat(checkpoint.sourceName()).isEqualTo("model.safetensors.index.json");
            assertThat(checkpoint.tensorNames()).containsExactlyInAnyOrder("a", "b", "c");
            assertThat(checkpoint.readFloats("a")).containsExactly(1, 2);
            assertThat(checkpoint.readFloats("b")).containsExactly(3, 4, 5);
            assertThat(checkpoint.readFloats("c")).containsExactly(6);
            assertThat(checkpoint.info("c").shape()).isEmpty();
            assertThat(checkpoint.info("b").file().getFileName().toString())
                    .isEqualTo("model-00002-of-00002.safetensors");
            assertThatThrownBy(() -> checkpoint.info("d"))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessage("model.safetensors.index.json: missing tensor 'd'");
        }
    }

    @Test
    void indexPointingToAMissingShardNamesBothFiles() throws IOException {
        SafetensorsWriter.writeAll(dir.resolve("model-00001-of-00002.safetensors"),
                List.of(new Tensor("a", TensorDType.F32, new long[] {2}, new float[] {1, 2})));
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}""");
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.safetensors.index.json")
                .hasMessageContaining("shard 'model-00002-of-00002.safetensors'")
                .hasMessageContaining("not found");
    }

    @Test
    void indexMustAgreeWithTheShards() throws IOException {
        SafetensorsWriter.writeAll(dir.resolve("model-00001-of-00001.safetensors"),
                List.of(new Tensor("a", TensorDType.F32, new long[] {2}, new float[] {1, 2})));
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"weight_map": {"a": "model-00001-of-00001.safetensors", "z": "model-00001-of-00001.safetensors"}}""");
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .hasMessageContaining("model.safetensors.index.json: tensor 'z' is mapped to "
                        + "model-00001-of-00001.safetensors but that file does not contain it");
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"weight_map": {"a": "../elsewhere/model.safetensors"}}""");
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir)).hasMessageContaining("not found");
    }

    @Test
    void missingTensorIsNamed() {
        SafetensorsWriter.writeAll(dir.resolve("model.safetensors"),
                List.of(new Tensor("a", TensorDType.F32, new long[] {1}, new float[] {1})));
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertThatThrownBy(() -> checkpoint.readFloats("model.norm.weight"))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessage("model.safetensors: missing tensor 'model.norm.weight'");
        }
    }

    @Test
    void folderWithoutWeightsIsReported() {
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("no model.safetensors or model.safetensors.index.json");
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir.resolve("nope")))
                .hasMessageContaining("not a model directory");
    }

    @Test
    void truncatedDataIsReported() throws IOException {
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.writeAll(file, List.of(new Tensor("w", TensorDType.F32, new long[] {4, 4}, new float[16])));
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.truncate(channel.size() - 4);
        }
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.safetensors: truncated: tensor 'w' ends at byte");
    }

    @Test
    void fileTooShortForAHeaderIsReported() throws IOException {
        Files.write(dir.resolve("model.safetensors"), new byte[] {1, 2, 3});
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.safetensors: truncated: 3 bytes");
    }

    @Test
    void headerLengthBeyondTheFileIsReported() throws IOException {
        rawFile("model.safetensors", 1000, "{}", new byte[0]);
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.safetensors: bad header length 1000 (the file has 10 bytes)");
        rawFile("model.safetensors", -1, "{}", new byte[0]);
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .hasMessageContaining("model.safetensors: bad header length 18446744073709551615");
    }

    @Test
    void malformedHeaderJsonIsReported() throws IOException {
        rawFile("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], ", new byte[4]);
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.safetensors: malformed header JSON");
        rawFile("[1, 2]", new byte[0]);
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .hasMessageContaining("model.safetensors: malformed header: expected a JSON object");
        rawFile("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", new byte[4]);
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .hasMessageContaining("model.safetensors: tensor 'w': malformed shape [-1]");
        rawFile("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                + " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", new byte[4]);
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .hasMessageContaining("model.safetensors: malformed header JSON: Duplicate field 'w'");
    }

    @Test
    void offsetsInconsistentWithTheShapeOrOverlappingAreReported() throws IOException {
        rawFile("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 12]}}", new byte[16]);
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.safetensors: tensor 'w': data_offsets [0, 12] span 12 bytes"
                        + " but F32[2, 2] needs 16");
        rawFile("""
                {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                 "b": {"dtype": "F16", "shape": [2], "data_offsets": [6, 10]}}""", new byte[12]);
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .hasMessageContaining("model.safetensors: inconsistent data_offsets: tensors 'a' and 'b' overlap");
    }

    @Test
    void unknownDtypeFailsAtOpenAndUnsupportedOnesWhenRead() throws IOException {
        rawFile("{\"w\": {\"dtype\": \"Q9\", \"shape\": [1], \"data_offsets\": [0, 1]}}", new byte[1]);
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessage("model.safetensors: tensor 'w': unknown dtype 'Q9'");

        rawFile("""
                {"ids": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]},
                 "w": {"dtype": "F32", "shape": [1], "data_offsets": [16, 20]}}""", new byte[20]);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertThat(checkpoint.tensorNames()).containsExactly("ids", "w");
            assertThat(checkpoint.readFloats("w")).containsExactly(0f);
            assertThatThrownBy(() -> checkpoint.readFloats("ids"))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessageContaining("model.safetensors: tensor 'ids' has dtype I64")
                    .hasMessageContaining("supported: F32, F16, BF16");
        }
    }

    @Test
    void readsTensorsBeyondTwoGigabytes() throws IOException {
        // A sparse file: 2 GiB + 8 bytes of zeros (tensor "big", never read) followed by "tail".
        long bigBytes = (1L << 31) + 8;
        String header = "{\"big\": {\"dtype\": \"F32\", \"shape\": [" + bigBytes / 4 + "], \"data_offsets\": [0, "
                + bigBytes + "]}, \"tail\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [" + bigBytes + ", "
                + (bigBytes + 8) + "]}}";
        Path file = rawFile(header, new byte[0]);
        long dataStart = 8 + header.length();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ByteBuffer tail = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.5f).putFloat(-7f).flip();
            channel.write(tail, dataStart + bigBytes);
        }
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertThat(checkpoint.readFloats("tail")).containsExactly(1.5f, -7f);
            assertThat(checkpoint.info("big").numElements()).isEqualTo(bigBytes / 4);
            assertThatThrownBy(() -> checkpoint.readBytes("big")).hasMessageContaining("too many for one buffer");
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
