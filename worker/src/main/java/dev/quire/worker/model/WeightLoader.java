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

    /** The named vectors end to end, with the first {@code scaledLength} values multiplied by {@code scale}. */
    NDArray concatVector(int scaledLength, float scale, String... names) {
        float[] all = concatFloats(names);
        for (int i = 0; i < scaledLength; i++) {
            all[i] *= scale;
        }
        return toDevice(all, new Shape(all.length));
    }

    private float[] concatFloats(String... names) {
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
        return all;
    }

    float[] floats(String name) {
        return checkpoint.readFloats(name);
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
        return linear(in, null, 0, 1f, names);
    }

    /**
     * Like {@link #linear(int, String...)}, with two scalings folded into the weights: input
     * feature {@code i} is multiplied by {@code inputScale[i]} (a preceding RMSNorm's weight; null for
     * none), and the first {@code scaledOutputs} output columns by {@code outputScale}. Folding costs
     * nothing at load and saves an elementwise pass per layer and step.
     */
    NDArray linear(int in, float[] inputScale, int scaledOutputs, float outputScale, String... names) {
        if (inputScale != null && inputScale.length != in) {
            throw new IllegalArgumentException("input scale of " + inputScale.length + " values for " + in + " inputs");
        }
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
                float columnScale = dst < scaledOutputs ? outputScale : 1f;
                for (int i = 0; i < in; i++) {
                    float rowScale = inputScale == null ? 1f : inputScale[i];
                    transposed[i * totalOut + dst] = part[src + i] * rowScale * columnScale;
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
