package dev.quire.server.cli;

import dev.quire.gateway.cli.ByteSizeConverter;
import dev.quire.worker.engine.EngineConfig;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The options of a process that runs a model: {@code quire worker} and {@code quire serve}. */
public final class EngineOptions {

    @Option(names = "--model", paramLabel = "DIR",
            description = "Hugging Face checkpoint folder to serve (default: the bundled stories260K model).")
    Path model;

    @Option(names = "--model-name", paramLabel = "NAME",
            description = "Name clients use for the model (default: the folder's name).")
    String modelName;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEV",
            description = "cpu or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--kv-cache-bytes", paramLabel = "SIZE", converter = ByteSizeConverter.class, defaultValue = "0",
            description = "KV cache memory budget, e.g. 512m or 2g; 0 means 1g on CPU and --gpu-memory-fraction "
                    + "of free memory on a GPU (default: ${DEFAULT-VALUE}).")
    long kvCacheBytes;

    @Option(names = "--gpu-memory-fraction", defaultValue = "0.8", paramLabel = "F",
            description = "Share of free GPU memory for the KV cache when --kv-cache-bytes is 0 (default: ${DEFAULT-VALUE}).")
    double gpuMemoryFraction;

    @Option(names = "--block-size", defaultValue = "16", paramLabel = "N",
            description = "Tokens per KV cache block (default: ${DEFAULT-VALUE}).")
    int blockSize;

    @Option(names = "--max-batched-tokens", defaultValue = "2048", paramLabel = "N",
            description = "Token budget of one engine step (default: ${DEFAULT-VALUE}).")
    int maxBatchedTokens;

    @Option(names = "--max-seqs", defaultValue = "256", paramLabel = "N",
            description = "Most sequences in one engine step (default: ${DEFAULT-VALUE}).")
    int maxSeqs;

    @Option(names = "--max-model-len", defaultValue = "0", paramLabel = "N",
            description = "Most tokens per sequence; 0 uses the model's context length (default: ${DEFAULT-VALUE}).")
    int maxModelLen;

    @Option(names = "--no-prefix-caching", defaultValue = "false",
            description = "Do not share KV blocks between requests with a common prompt prefix.")
    boolean noPrefixCaching;

    /** The checkpoint folder to load. */
    public Path modelDir() {
        return model != null ? model : BundledModel.path();
    }

    public String modelName() {
        return modelName;
    }

    public EngineConfig engineConfig() {
        return new EngineConfig(device, blockSize, kvCacheBytes, gpuMemoryFraction, maxBatchedTokens, maxSeqs,
                maxModelLen, !noPrefixCaching);
    }
}
