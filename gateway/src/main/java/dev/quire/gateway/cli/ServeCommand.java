package dev.quire.gateway.cli;

import dev.quire.gateway.AllInOneServer;
import dev.quire.worker.engine.EngineConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code quire serve}: the all-in-one cluster in one process. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Run the all-in-one cluster (gateway + one worker + an embedded Hazelcast member) "
                + "on one model.")
public final class ServeCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "DIR",
            description = "Hugging Face checkpoint folder to serve (default: the bundled stories260K model).")
    Path model;

    @Option(names = "--model-name", paramLabel = "NAME",
            description = "Name clients use for the model (default: the folder's name).")
    String modelName;

    @Option(names = "--host", defaultValue = "0.0.0.0", description = "Interface to listen on (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--grpc-port", defaultValue = "50051", paramLabel = "N",
            description = "gRPC port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int grpcPort;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEV",
            description = "cpu or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--kv-cache-bytes", paramLabel = "SIZE", converter = ByteSizeConverter.class,
            description = "KV cache memory budget, e.g. 512m or 2g (default: 1g on CPU, "
                    + "--gpu-memory-fraction of free memory on a GPU).")
    long kvCacheBytes;

    @Option(names = "--gpu-memory-fraction", defaultValue = "0.8", paramLabel = "F",
            description = "Share of free GPU memory for the KV cache when --kv-cache-bytes is not set "
                    + "(default: ${DEFAULT-VALUE}).")
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

    @Option(names = "--no-prefix-caching", negatable = false,
            description = "Do not share KV blocks between requests with a common prompt prefix.")
    boolean noPrefixCaching;

    @Option(names = "--cluster-name", defaultValue = "quire", paramLabel = "NAME",
            description = "Hazelcast cluster name (default: ${DEFAULT-VALUE}).")
    String clusterName;

    @Override
    public Integer call() throws Exception {
        EngineConfig engine = new EngineConfig(device, blockSize, kvCacheBytes, gpuMemoryFraction, maxBatchedTokens,
                maxSeqs, maxModelLen, !noPrefixCaching);
        AllInOneServer server = AllInOneServer.start(new AllInOneServer.Options(
                model != null ? model : BundledModel.path(), modelName, host, grpcPort, engine, clusterName));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
            } catch (Exception e) {
                System.err.println("quire: error while shutting down: " + e.getMessage());
            } finally {
                stopped.countDown();
            }
        }, "quire-shutdown"));
        stopped.await();
        return 0;
    }
}
