package dev.quire.worker.engine;

/**
 * Engine settings.
 *
 * @param device           "cpu" or "cuda:N"
 * @param blockSize        tokens per KV block
 * @param kvCacheBytes     memory budget of the KV cache; 0 picks a default (see {@link #DEFAULT_CPU_KV_BYTES})
 * @param gpuMemoryFraction share of free device memory to give the KV cache on a GPU when kvCacheBytes is 0
 * @param maxBatchedTokens token budget of one engine step
 * @param maxSeqs          most sequences in one step
 * @param maxModelLen      most tokens per sequence; 0 uses the model's max_position_embeddings
 * @param prefixCaching    share KV blocks between requests with a common prompt prefix
 */
public record EngineConfig(String device, int blockSize, long kvCacheBytes, double gpuMemoryFraction,
                           int maxBatchedTokens, int maxSeqs, int maxModelLen, boolean prefixCaching) {

    /** Default KV budget on CPU: enough for the bundled and benchmark models without starving the host. */
    public static final long DEFAULT_CPU_KV_BYTES = 1L << 30;

    public EngineConfig {
        if (device == null || !(device.equals("cpu") || device.matches("cuda:\\d+"))) {
            throw new IllegalArgumentException("device must be 'cpu' or 'cuda:N', got '" + device + "'");
        }
        if (blockSize <= 0 || maxBatchedTokens <= 0 || maxSeqs <= 0 || kvCacheBytes < 0 || maxModelLen < 0) {
            throw new IllegalArgumentException("block size, batch limits and KV budget must be positive");
        }
        if (!(gpuMemoryFraction > 0 && gpuMemoryFraction <= 1)) {
            throw new IllegalArgumentException("gpu memory fraction must be in (0, 1]");
        }
    }

    public static EngineConfig defaults() {
        return new EngineConfig("cpu", 16, 0, 0.8, 2048, 256, 0, true);
    }

    public EngineConfig withKvCacheBytes(long bytes) {
        return new EngineConfig(device, blockSize, bytes, gpuMemoryFraction, maxBatchedTokens, maxSeqs, maxModelLen,
                prefixCaching);
    }

    public EngineConfig withPrefixCaching(boolean on) {
        return new EngineConfig(device, blockSize, kvCacheBytes, gpuMemoryFraction, maxBatchedTokens, maxSeqs,
                maxModelLen, on);
    }
}
