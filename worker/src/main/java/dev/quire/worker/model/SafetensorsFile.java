package dev.quire.worker.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One open .safetensors file: its parsed, checked header and a channel for positional reads.
 *
 * <p>Format: an 8-byte little-endian header length N, N bytes of JSON mapping tensor names to
 * {@code {dtype, shape, data_offsets: [begin, end]}} (offsets relative to the end of the header;
 * an optional {@code __metadata__} string map), then the data. The header is checked completely at
 * open time so that a bad file fails before any weight is loaded.
 */
final class SafetensorsFile implements AutoCloseable {

    /** The safetensors spec caps the header at 100 MB; anything bigger is a corrupt length. */
    private static final long MAX_HEADER_BYTES = 100L << 20;

    private static final ObjectMapper STRICT_JSON =
            new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    /** Element sizes of every dtype the safetensors format defines (byte-sized or wider). */
    private static final Map<String, Integer> DTYPE_BYTES = Map.ofEntries(
            Map.entry("BOOL", 1), Map.entry("U8", 1), Map.entry("I8", 1), Map.entry("F8_E5M2", 1),
            Map.entry("F8_E4M3", 1), Map.entry("F8_E8M0", 1), Map.entry("I16", 2), Map.entry("U16", 2),
            Map.entry("F16", 2), Map.entry("BF16", 2), Map.entry("I32", 4), Map.entry("U32", 4),
            Map.entry("F32", 4), Map.entry("F64", 8), Map.entry("I64", 8), Map.entry("U64", 8));

    /** Bytes read per positional read when decoding, so that huge tensors need no huge buffer. */
    private static final int CHUNK_BYTES = 8 << 20;

    /**
     * A header entry.
     *
     * @param dtypeName the dtype as written in the file
     * @param dtype the parsed dtype, or null when Quire does not read this one
     * @param begin absolute file offset of the first byte
     * @param end absolute file offset after the last byte
     */
    record Entry(String name, String dtypeName, TensorDType dtype, long[] shape, long begin, long end) {}

    private final Path path;
    private final FileChannel channel;
    private final Map<String, Entry> entries;

    private SafetensorsFile(Path path, FileChannel channel, Map<String, Entry> entries) {
        this.path = path;
        this.channel = channel;
        this.entries = entries;
    }

    /** Opens and checks a file; the channel stays open until {@link #close()}. */
    static SafetensorsFile open(Path path) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(path.getFileName() + ": not found (" + path + ")", e);
        } catch (IOException e) {
            throw new CheckpointException(path.getFileName() + ": cannot open: " + e.getMessage(), e);
        }
        try {
            return new SafetensorsFile(path, channel, readHeader(path, channel));
        } catch (RuntimeException e) {
            closeQuietly(channel, e);
            throw e;
        }
    }

    Path path() {
        return path;
    }

    String fileName() {
        return path.getFileName().toString();
    }

    /** @return entries in header order */
    Map<String, Entry> entries() {
        return entries;
    }

    /** Reads a tensor's raw little-endian bytes. */
    ByteBuffer readBytes(Entry entry) {
        long size = entry.end() - entry.begin();
        if (size > Integer.MAX_VALUE - 8) {
            throw new CheckpointException(fileName() + ": tensor '" + entry.name() + "' has " + size
                    + " bytes, too many for one buffer; read it as floats");
        }
        ByteBuffer buffer = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
        readFully(buffer, entry.begin(), entry);
        return buffer.flip();
    }

    /** Reads a tensor widened to float32. */
    float[] readFloats(Entry entry, TensorDType dtype) {
        long count = TensorInfo.numElements(entry.shape());
        if (count > Integer.MAX_VALUE - 8) {
            throw new CheckpointException(fileName() + ": tensor '" + entry.name() + "' has " + count
                    + " elements; at most 2^31 are supported per tensor");
        }
        float[] out = new float[(int) count];
        int elementBytes = dtype.byteSize();
        int chunkElements = Math.min(CHUNK_BYTES / elementBytes, out.length);
        ByteBuffer buffer = ByteBuffer.allocate(chunkElements * elementBytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int done = 0; done < out.length; ) {
            int n = Math.min(chunkElements, out.length - done);
            buffer.clear().limit(n * elementBytes);
            readFully(buffer, entry.begin() + (long) done * elementBytes, entry);
            buffer.flip();
            switch (dtype) {
                case F32 -> buffer.asFloatBuffer().get(out, done, n);
                case F16 -> {
                    for (int i = 0; i < n; i++) {
                        out[done + i] = HalfFloats.f16ToF32(buffer.getShort(2 * i));
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < n; i++) {
                        out[done + i] = HalfFloats.bf16ToF32(buffer.getShort(2 * i));
                    }
                }
            }
            done += n;
        }
        return out;
    }

    private void readFully(ByteBuffer buffer, long position, Entry entry) {
        try {
            long at = position;
            while (buffer.hasRemaining()) {
                int n = channel.read(buffer, at);
                if (n < 0) {
                    throw new CheckpointException(fileName() + ": truncated while reading tensor '"
                            + entry.name() + "' (the file shrank after it was opened?)");
                }
                at += n;
            }
        } catch (IOException e) {
            throw new CheckpointException(
                    fileName() + ": cannot read tensor '" + entry.name() + "': " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new CheckpointException(fileName() + ": cannot close: " + e.getMessage(), e);
        }
    }

    private static Map<String, Entry> readHeader(Path path, FileChannel channel) {
        String file = path.getFileName().toString();
        long fileSize;
        ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        try {
            fileSize = channel.size();
            if (fileSize < 8) {
                throw new CheckpointException(file + ": truncated: " + fileSize
                        + " bytes, too short for the 8-byte header length");
            }
            readAt(channel, lengthBytes, 0);
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read: " + e.getMessage(), e);
        }
        long headerLength = lengthBytes.flip().getLong();
        if (headerLength < 2 || headerLength > fileSize - 8) {
            // Unsigned print: a corrupt length is often "negative".
            throw new CheckpointException(file + ": bad header length " + Long.toUnsignedString(headerLength)
                    + " (the file has " + fileSize + " bytes): truncated or not a safetensors file");
        }
        if (headerLength > MAX_HEADER_BYTES) {
            throw new CheckpointException(file + ": bad header length " + headerLength + " (limit 100 MB)");
        }
        ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
        try {
            readAt(channel, headerBytes, 8);
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read the header: " + e.getMessage(), e);
        }
        String headerText;
        try {
            headerText = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .decode(headerBytes.flip())
                    .toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(file + ": malformed header: not UTF-8 text", e);
        }
        JsonNode header;
        try {
            header = STRICT_JSON.readTree(headerText);
        } catch (JsonProcessingException e) {
            throw new CheckpointException(file + ": malformed header JSON: " + e.getOriginalMessage(), e);
        }
        if (header == null || !header.isObject()) {
            throw new CheckpointException(file + ": malformed header: expected a JSON object");
        }
        return parseEntries(file, header, 8 + headerLength, fileSize);
    }

    private static Map<String, Entry> parseEntries(String file, JsonNode header, long dataStart, long fileSize) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = field.getKey();
            if (name.equals("__metadata__")) {
                continue; // free-form string map (e.g. {"format": "pt"}): nothing Quire needs
            }
            JsonNode node = field.getValue();
            String where = file + ": tensor '" + name + "'";
            if (!node.isObject()) {
                throw new CheckpointException(where + ": malformed header entry " + node);
            }
            JsonNode dtypeNode = node.get("dtype");
            if (dtypeNode == null || !dtypeNode.isTextual()) {
                throw new CheckpointException(where + ": malformed header entry: no dtype");
            }
            String dtypeName = dtypeNode.textValue();
            Integer elementBytes = DTYPE_BYTES.get(dtypeName);
            if (elementBytes == null) {
                throw new CheckpointException(where + ": unknown dtype '" + dtypeName + "'");
            }
            long[] shape = longArray(node.get("shape"), -1, where, "shape");
            long[] offsets = longArray(node.get("data_offsets"), 2, where, "data_offsets");
            if (offsets[0] > offsets[1]) {
                throw new CheckpointException(where + ": data_offsets " + Arrays.toString(offsets) + " end before they begin");
            }
            long expectedBytes;
            try {
                expectedBytes = Math.multiplyExact(TensorInfo.numElements(shape), elementBytes);
            } catch (ArithmeticException e) {
                throw new CheckpointException(where + ": shape " + Arrays.toString(shape) + " is too large", e);
            }
            if (offsets[1] - offsets[0] != expectedBytes) {
                throw new CheckpointException(where + ": data_offsets " + Arrays.toString(offsets) + " span "
                        + (offsets[1] - offsets[0]) + " bytes but " + dtypeName + Arrays.toString(shape)
                        + " needs " + expectedBytes);
            }
            if (offsets[1] > fileSize - dataStart) {
                throw new CheckpointException(file + ": truncated: tensor '" + name + "' ends at byte "
                        + (dataStart + offsets[1]) + " but the file has " + fileSize + " bytes");
            }
            TensorDType dtype = switch (dtypeName) {
                case "F32" -> TensorDType.F32;
                case "F16" -> TensorDType.F16;
                case "BF16" -> TensorDType.BF16;
                default -> null;
            };
            entries.put(name, new Entry(name, dtypeName, dtype, shape, dataStart + offsets[0], dataStart + offsets[1]));
        }
        checkNoOverlap(file, entries);
        return Collections.unmodifiableMap(entries);
    }

    private static void checkNoOverlap(String file, Map<String, Entry> entries) {
        List<Entry> byStart = new ArrayList<>(entries.values());
        byStart.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        for (int i = 1; i < byStart.size(); i++) {
            Entry previous = byStart.get(i - 1);
            Entry current = byStart.get(i);
            if (current.begin() < previous.end()) {
                throw new CheckpointException(file + ": inconsistent data_offsets: tensors '" + previous.name()
                        + "' and '" + current.name() + "' overlap");
            }
        }
    }

    private static long[] longArray(JsonNode node, int requiredLength, String where, String key) {
        if (node == null || !node.isArray() || (requiredLength >= 0 && node.size() != requiredLength)) {
            throw new CheckpointException(where + ": malformed " + key + " " + node);
        }
        long[] values = new long[node.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode item = node.get(i);
            if (!item.isIntegralNumber() || !item.canConvertToLong() || item.longValue() < 0) {
                throw new CheckpointException(where + ": malformed " + key + " " + node);
            }
            values[i] = item.longValue();
        }
        return values;
    }

    private static void readAt(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at);
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
            at += n;
        }
    }

    private static void closeQuietly(FileChannel channel, RuntimeException primary) {
        try {
            channel.close();
        } catch (IOException e) {
            primary.addSuppressed(e);
        }
    }
}
