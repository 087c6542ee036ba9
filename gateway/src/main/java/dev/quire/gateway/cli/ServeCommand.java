package dev.quire.gateway.cli;

import dev.quire.gateway.AllInOneServer;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.worker.engine.EngineConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code quire serve}: the all-in-one cluster in one process. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Run the all-in-one cluster (gateway + one worker + an embedded Hazelcast member) on one model.",
                "",
                "Every option can also be set in a YAML file (--config; keys are the option names without dashes, "
                        + "e.g. 'grpc-port: 9000') or as an environment variable (QUIRE_GRPC_PORT=9000). A flag wins "
                        + "over the file, the file over the environment.",
                ""},
        footer = {"", "On SIGTERM the server stops admitting requests (readiness turns false), lets running ones "
                + "finish for up to --drain-timeout, then exits."})
public final class ServeCommand implements Callable<Integer> {

    @Option(names = "--config", paramLabel = "FILE", description = "YAML file with option values.")
    Path config;

    @Option(names = "--model", paramLabel = "DIR",
            description = "Hugging Face checkpoint folder to serve (default: the bundled stories260K model).")
    Path model;

    @Option(names = "--model-name", paramLabel = "NAME",
            description = "Name clients use for the model (default: the folder's name).")
    String modelName;

    @Option(names = "--host", defaultValue = "0.0.0.0", paramLabel = "ADDR", description = "Interface to listen on (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--grpc-port", defaultValue = "50051", paramLabel = "N",
            description = "gRPC port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int grpcPort;

    @Option(names = "--http-port", defaultValue = "8000", paramLabel = "N",
            description = "HTTP port for the OpenAI-compatible API, /health, /ready and /metrics (default: ${DEFAULT-VALUE}).")
    int httpPort;

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

    @Option(names = "--cluster-name", defaultValue = "quire", paramLabel = "NAME",
            description = "Hazelcast cluster name (default: ${DEFAULT-VALUE}).")
    String clusterName;

    @Option(names = "--api-key", paramLabel = "KEY", split = ",",
            description = "Accept this API key (repeatable). With any key set, every request but health and "
                    + "metrics needs one: 'Authorization: Bearer KEY' on HTTP, 'authorization' metadata on gRPC.")
    List<String> apiKeys = new ArrayList<>();

    @Option(names = "--api-keys-file", paramLabel = "FILE",
            description = "File of API keys, one per line ('#' starts a comment).")
    Path apiKeysFile;

    @Option(names = "--max-concurrent-requests", defaultValue = "4096", paramLabel = "N",
            description = "Requests admitted and not finished, over all clients (default: ${DEFAULT-VALUE}).")
    int maxConcurrentRequests;

    @Option(names = "--max-queued-requests", defaultValue = "1024", paramLabel = "N",
            description = "Admitted requests not yet scheduled; beyond this new ones get 429 / RESOURCE_EXHAUSTED "
                    + "at once (default: ${DEFAULT-VALUE}).")
    int maxQueuedRequests;

    @Option(names = "--queue-timeout", defaultValue = "60s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Fail a request not scheduled within this (default: ${DEFAULT-VALUE}).")
    Duration queueTimeout;

    @Option(names = "--rate-limit-rpm", defaultValue = "0", paramLabel = "N",
            description = "Requests per minute per API key; 0 for no limit (default: ${DEFAULT-VALUE}).")
    long requestsPerMinute;

    @Option(names = "--rate-limit-tpm", defaultValue = "0", paramLabel = "N",
            description = "Prompt + generated tokens per minute per API key; 0 for no limit (default: ${DEFAULT-VALUE}).")
    long tokensPerMinute;

    @Option(names = "--max-prompt-tokens", defaultValue = "0", paramLabel = "N",
            description = "Longest prompt accepted; 0 for the model's context length (default: ${DEFAULT-VALUE}).")
    int maxPromptTokens;

    @Option(names = "--max-tokens-limit", defaultValue = "0", paramLabel = "N",
            description = "Largest max_tokens a request may ask for; 0 for no limit beyond the context "
                    + "(default: ${DEFAULT-VALUE}).")
    int maxTokensLimit;

    @Option(names = "--max-request-bytes", defaultValue = "4m", paramLabel = "SIZE", converter = ByteSizeConverter.class,
            description = "Largest request body or gRPC message; larger ones get 413 / RESOURCE_EXHAUSTED "
                    + "(default: ${DEFAULT-VALUE}).")
    long maxRequestBytes;

    @Option(names = "--drain-timeout", defaultValue = "30s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "On SIGTERM, how long running requests may take to finish (default: ${DEFAULT-VALUE}).")
    Duration drainTimeout;

    @Option(names = "--log-request-content", defaultValue = "false",
            description = "Include prompt and output text in the access log (off by default: it may hold "
                    + "private data).")
    boolean logRequestContent;

    @Override
    public Integer call() throws Exception {
        EngineConfig engine = new EngineConfig(device, blockSize, kvCacheBytes, gpuMemoryFraction, maxBatchedTokens,
                maxSeqs, maxModelLen, !noPrefixCaching);
        if (maxRequestBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("--max-request-bytes must be below 2g");
        }
        AdmissionLimits limits = new AdmissionLimits(maxConcurrentRequests, maxQueuedRequests, queueTimeout,
                requestsPerMinute, tokensPerMinute, maxPromptTokens, maxTokensLimit, (int) maxRequestBytes);
        AllInOneServer server = AllInOneServer.start(new AllInOneServer.Options(
                model != null ? model : BundledModel.path(), modelName, host, grpcPort, httpPort, engine, clusterName,
                ApiKeys.of(apiKeys, apiKeysFile), limits, logRequestContent));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.drainAndClose(drainTimeout);
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
