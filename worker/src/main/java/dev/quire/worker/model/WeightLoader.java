package dev.quire.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/** Reads checkpoint tensors into device arrays in the layouts {@link LlamaModel} computes with. */
final class WeightLoader {
    private final SafetensorsCheckpoint checkpoint;
    private final NDManager manager;
    private final DataType dtype;

    WeightLoader(SafetensorsCheckpoint checkpoint, NDManager manager, DataType dtype) {
        this.checkpoint = checkpoint;
        this.manager = manager;
        this.dtype = dtype;
    }

    NDArray vector(String name) {
        float[] data = checkpoint.readFloats(name);
        return toDevice(data, new Shape(data.length));
    }

    NDArray concatVector(String... names) {
        float[][] parts = new float[names.length][];
        int total = 0;
        for (int i = 0; i < names.length; i++) {
            parts[i] = checkpoint.readFloats(names[i]);
            total += parts[i].length;
        }
        float[] all = new float[total];
        int at = 0;
        for (float[] part : parts) {
            System.arraycopy(part, 0, all, at, part.length);
            at += part.length;
        }
        return toDevice(all, new Shape(total));
    }

    NDArray matrix(String name, int rows, int cols) {
        return toDevice(checkpoint.readFloats(name), new Shape(rows, cols));
    }

    /**
     * Stacks PyTorch-layout weights {@code [out_i, in]} along their output dimension and stores
     * the result transposed, {@code [in, sum(out_i)]}, so that {@code x.matMul(w)} computes all of
     * them at once.
     */
    NDArray linear(int in, String... names) {
        float[][] parts = new float[names.length][];
        int totalOut = 0;
        for (int i = 0; i < names.length; i++) {
            parts[i] = checkpoint.readFloats(names[i]);
            totalOut += parts[i].length / in;
        }
        float[] transposed = new float[in * totalOut];
        int outBase = 0;
        for (float[] part : parts) {
            int out = part.length / in;
            for (int o = 0; o < out; o++) {
                int src = o * in;
                int dst = outBase + o;
                for (int i = 0; i < in; i++) {
                    transposed[i * totalOut + dst] = part[src + i];
                }
            }
            outBase += out;
        }
        return toDevice(transposed, new Shape(in, totalOut));
    }

    private NDArray toDevice(float[] data, Shape shape) {
        NDArray array = manager.create(data, shape);
        if (dtype == DataType.FLOAT32) {
            return array;
        }
        NDArray converted = array.toType(dtype, false);
        array.close();
        return converted;
    }
}
