package dev.quire.worker.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The K and V caches of every layer, preallocated head-major as
 * {@code [kvHeads, numBlocks, blockSize, headDim]}. Head-major means that gathering a batch's blocks
 * yields {@code [kvHeads, seqs, context, headDim]} directly, the layout the attention matmuls
 * consume without another copy. Physical blocks are handed out by the scheduler's block pool; this
 * class only holds the tensors.
 */
public final class PagedKvCache implements AutoCloseable {
    private final NDManager manager;
    private final int numBlocks;
    private final int blockSize;
    /** Views of the same storage as {@code [kvHeads, numBlocks * blockSize, headDim]}, for scatter writes by slot. */
    private final NDArray[] keySlots;
    private final NDArray[] valueSlots;
    /**
     * Views of the same storage as {@code [kvHeads * numBlocks, blockSize * headDim]}: one row per
     * (head, block), so gathering blocks is a row gather that copies whole contiguous rows.
     */
    private final NDArray[] keyRows;
    private final NDArray[] valueRows;

    public PagedKvCache(NDManager parent, ModelConfig config, int numBlocks, int blockSize, Device device,
                        DataType dtype) {
        if (numBlocks <= 0 || blockSize <= 0) {
            throw new IllegalArgumentException("numBlocks and blockSize must be positive");
        }
        this.manager = parent.newSubManager(device);
        this.numBlocks = numBlocks;
        this.blockSize = blockSize;
        int layers = config.numLayers();
        keySlots = new NDArray[layers];
        valueSlots = new NDArray[layers];
        keyRows = new NDArray[layers];
        valueRows = new NDArray[layers];
        Shape shape = new Shape(config.numKvHeads(), numBlocks, blockSize, config.headDim());
        Shape slots = new Shape(config.numKvHeads(), (long) numBlocks * blockSize, config.headDim());
        Shape rows = new Shape((long) config.numKvHeads() * numBlocks, (long) blockSize * config.headDim());
        for (int l = 0; l < layers; l++) {
            // Only views are kept; the manager owns (and frees) the storage.
            NDArray keys = manager.zeros(shape, dtype);
            NDArray values = manager.zeros(shape, dtype);
            keySlots[l] = keys.reshape(slots);
            valueSlots[l] = values.reshape(slots);
            keyRows[l] = keys.reshape(rows);
            valueRows[l] = values.reshape(rows);
        }
    }

    /** Bytes one block takes across all layers, K and V. */
    public static long bytesPerBlock(ModelConfig config, int blockSize, DataType dtype) {
        return 2L * config.numLayers() * blockSize * config.kvDim() * dtype.getNumOfBytes();
    }

    /** How many blocks fit in {@code budgetBytes}. */
    public static int blocksForBudget(long budgetBytes, ModelConfig config, int blockSize, DataType dtype) {
        long blocks = budgetBytes / bytesPerBlock(config, blockSize, dtype);
        return (int) Math.min(Integer.MAX_VALUE, blocks);
    }

    public int numBlocks() {
        return numBlocks;
    }

    public int blockSize() {
        return blockSize;
    }

    NDArray keyRows(int layer) {
        return keyRows[layer];
    }

    NDArray valueRows(int layer) {
        return valueRows[layer];
    }

    NDArray keySlots(int layer) {
        return keySlots[layer];
    }

    NDArray valueSlots(int layer) {
        return valueSlots[layer];
    }

    @Override
    public void close() {
        manager.close();
    }
}
