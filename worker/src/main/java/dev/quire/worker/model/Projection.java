package dev.quire.worker.model;

import ai.djl.ndarray.NDArray;

/**
 * One of the model's linear maps, {@code x -> x W} with {@code W} of shape {@code [in, out]}, in
 * whichever form its device multiplies fastest.
 */
interface Projection extends AutoCloseable {

    /** {@code x [rows, in]} to {@code [rows, out]}; the result belongs to {@code x}'s manager. */
    NDArray apply(NDArray x);

    /** Releases memory held outside the model's NDManager (none for plain arrays). */
    @Override
    void close();

    /** A weight array multiplied by PyTorch's matmul. */
    static Projection of(NDArray weight) {
        return new Projection() {
            @Override
            public NDArray apply(NDArray x) {
                return x.matMul(weight);
            }

            @Override
            public void close() {
                // The weight belongs to the model's manager.
            }
        };
    }
}
