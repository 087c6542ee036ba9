package dev.quire.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/** Hands the data of PyTorch CPU arrays to the native kernels. */
final class CpuArrays {
    private CpuArrays() {
    }

    /**
     * The address of a non-empty CPU array's data. A strided view is first copied into a
     * contiguous array owned by the same manager, so the address stays valid as long as the view.
     */
    static Pointer address(NDArray array) {
        return Native.getDirectBufferPointer(JniUtils.getByteBuffer((PtNDArray) array, true));
    }
}
