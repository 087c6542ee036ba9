package dev.quire.worker.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The weights of a Hugging Face model folder: {@code model.safetensors}, or the shards listed by
 * {@code model.safetensors.index.json}. Headers are parsed and checked when opened; data is read
 * on demand with positional reads (so files may exceed 2 GB, and reads are thread-safe).
 */
public final class SafetensorsCheckpoint implements AutoCloseable {

    /** The single-file checkpoint name. */
    public static final String SINGLE_FILE = "model.safetensors";
    /** The index of a sharded checkpoint. */
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path directory;
    private final String sourceName;
    private final List<SafetensorsFile> files;
    private final Map<String, Located> tensors;

    private record Located(SafetensorsFile file, SafetensorsFile.Entry entry) {}

    private SafetensorsCheckpoint(Path directory, String sourceName, List<SafetensorsFile> files,
            Map<String, Located> tensors) {
        this.directory = directory;
        this.sourceName = sourceName;
        this.files = files;
        this.tensors = tensors;
    }

    /**
     * Opens the checkpoint in a model folder ({@code model.safetensors} is preferred over an index,
     * as Hugging Face does).
     *
     * @throws CheckpointException naming the file: none found, a missing shard, a truncated or
     *     malformed file, inconsistent offsets, an unknown dtype, a tensor in two shards
     */
    public static SafetensorsCheckpoint open(Path modelDir) {
        if (!Files.isDirectory(modelDir)) {
            throw new CheckpointException(modelDir + ": not a model directory");
        }
        Path single = modelDir.resolve(SINGLE_FILE);
        if (Files.exists(single)) {
            SafetensorsFile file = SafetensorsFile.open(single);
            Map<String, Located> tensors = new LinkedHashMap<>();
            file.entries().forEach((name, entry) -> tensors.put(name, new Located(file, entry)));
            return new SafetensorsCheckpoint(modelDir, SINGLE_FILE, List.of(file), tensors);
        }
        Path index = modelDir.resolve(INDEX_FILE);
        if (Files.exists(index)) {
            return openSharded(modelDir, index);
        }
        throw new CheckpointException(
                modelDir + ": no " + SINGLE_FILE + " or " + INDEX_FILE + " (only safetensors checkpoints are supported)");
    }

    private static SafetensorsCheckpoint openSharded(Path modelDir, Path index) {
        Map<String, String> weightMap = readWeightMap(index);
        Set<String> shardNames = new LinkedHashSet<>(weightMap.values());
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
            for (String shardName : shardNames) {
                Path shard = modelDir.resolve(shardName).normalize();
                // Shards must be plain files in the model folder, never paths leading elsewhere.
                if (!modelDir.normalize().equals(shard.getParent()) || !Files.isRegularFile(shard)) {
                    String example = weightMap.entrySet().stream()
                            .filter(e -> e.getValue().equals(shardName)).findFirst().orElseThrow().getKey();
                    throw new CheckpointException(INDEX_FILE + ": shard '" + shardName
                            + "' (holding '" + example + "') not found in " + modelDir);
                }
                SafetensorsFile file = SafetensorsFile.open(shard);
                opened.add(file);
                shards.put(shardName, file);
            }
            Map<String, Located> tensors = new LinkedHashMap<>();
            for (SafetensorsFile file : opened) {
                for (SafetensorsFile.Entry entry : file.entries().values()) {
                    Located previous = tensors.put(entry.name(), new Located(file, entry));
                    if (previous != null) {
                        throw new CheckpointException(INDEX_FILE + ": tensor '" + entry.name() + "' is in both "
                                + previous.file().fileName() + " and " + file.fileName());
                    }
                }
            }
            for (Map.Entry<String, String> mapped : weightMap.entrySet()) {
                Located located = tensors.get(mapped.getKey());
                if (located == null || located.file() != shards.get(mapped.getValue())) {
                    throw new CheckpointException(INDEX_FILE + ": tensor '" + mapped.getKey() + "' is mapped to "
                            + mapped.getValue() + " but that file does not contain it");
                }
            }
            return new SafetensorsCheckpoint(modelDir, INDEX_FILE, List.copyOf(opened), tensors);
        } catch (RuntimeException e) {
            for (SafetensorsFile file : opened) {
                try {
                    file.close();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static Map<String, String> readWeightMap(Path index) {
        JsonNode root;
        try {
            root = ModelConfig.JSON.readTree(Files.readString(index, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new CheckpointException(INDEX_FILE + ": malformed JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException(INDEX_FILE + ": cannot read: " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject() || map.isEmpty()) {
            throw new CheckpointException(INDEX_FILE + ": missing or empty 'weight_map'");
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            if (!entry.getValue().isTextual()) {
                throw new CheckpointException(
                        INDEX_FILE + ": weight_map entry '" + entry.getKey() + "' is not a file name");
            }
            weightMap.put(entry.getKey(), entry.getValue().textValue());
        }
        return weightMap;
    }

    /** @return the model folder */
    public Path directory() {
        return directory;
    }

    /** @return {@value #SINGLE_FILE} or {@value #INDEX_FILE}: how errors name the checkpoint as a whole */
    public String sourceName() {
        return sourceName;
    }

    /** @return the .safetensors files, in shard order */
    public List<Path> files() {
        return files.stream().map(SafetensorsFile::path).toList();
    }

    /** @return the names of all tensors, in file and header order */
    public Set<String> tensorNames() {
        return Collections.unmodifiableSet(tensors.keySet());
    }

    /** @return whether a tensor of this name exists (whatever its dtype) */
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /**
     * Describes a tensor.
     *
     * @throws CheckpointException if it is absent ({@code "model.safetensors: missing tensor 'x'"})
     *     or has a dtype other than F32, F16 and BF16
     */
    public TensorInfo info(String name) {
        Located located = locate(name);
        return new TensorInfo(name, located.entry().dtype(), located.entry().shape(), located.file().path());
    }

    /**
     * Reads a tensor as float32, row-major; F16 and BF16 are widened exactly.
     *
     * @throws CheckpointException if absent, of an unsupported dtype, or unreadable
     */
    public float[] readFloats(String name) {
        Located located = locate(name);
        return located.file().readFloats(located.entry(), located.entry().dtype());
    }

    /**
     * Reads a tensor's raw bytes as stored (little-endian, its own dtype), e.g. to hand F16 weights
     * to an engine without widening them. The buffer's order is little-endian. Never hand BF16
     * bytes to DJL: creating a BF16 array aborts the JVM (use {@link #readFloats} instead).
     *
     * @throws CheckpointException if absent, of an unsupported dtype, or over 2 GB
     */
    public ByteBuffer readBytes(String name) {
        Located located = locate(name);
        return located.file().readBytes(located.entry());
    }

    private Located locate(String name) {
        Located located = tensors.get(name);
        if (located == null) {
            throw new CheckpointException(sourceName + ": missing tensor '" + name + "'");
        }
        if (located.entry().dtype() == null) {
            throw new CheckpointException(located.file().fileName() + ": tensor '" + name + "' has dtype "
                    + located.entry().dtypeName() + ", which Quire does not read (supported: F32, F16, BF16)");
        }
        return located;
    }

    /** Closes every file. */
    @Override
    public void close() {
        CheckpointException failure = null;
        for (SafetensorsFile file : files) {
            try {
                file.close();
            } catch (CheckpointException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
