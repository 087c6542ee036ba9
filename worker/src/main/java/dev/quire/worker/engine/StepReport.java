package dev.quire.worker.engine;

/**
 * What one engine step did, for metrics and benchmarks.
 *
 * @param stepIndex     the scheduler's step number
 * @param sequences     sequences in the batch
 * @param tokens        tokens computed
 * @param decodes       sequences that computed exactly one token
 * @param forwardNanos  time in the model's forward pass
 * @param stepNanos     time of the whole step (plan, forward, sampling, emission)
 * @param kvBlocksUsed  KV blocks in use after planning
 * @param kvTokens      tokens those sequences hold in the cache after the step
 * @param blockSize     tokens per block
 */
public record StepReport(long stepIndex, int sequences, int tokens, int decodes, long forwardNanos, long stepNanos,
                         int kvBlocksUsed, long kvTokens, int blockSize) {

    /** Share of allocated KV slots that hold no token. */
    public double kvSlotWaste() {
        long slots = (long) kvBlocksUsed * blockSize;
        return slots == 0 ? 0 : 1.0 - (double) kvTokens / slots;
    }
}
