package dev.quire.worker.engine;

import java.util.List;

/** Failure injection into a running {@link LlamaEngine}, for tests of the processes built on it. */
public final class EngineFaults {
    private EngineFaults() {
    }

    /** The forward pass of the first step that computes {@code requestId} throws {@code error} on the engine thread. */
    public static void failStepOf(LlamaEngine engine, String requestId, Error error) {
        engine.injectFaults(new LlamaEngine.StepFaults() {
            @Override
            public void beforeForward(long stepIndex, List<String> requestIds) {
                if (requestIds.contains(requestId)) {
                    throw error;
                }
            }
        });
    }
}
