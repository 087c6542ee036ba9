package dev.quire.gateway.cli;

import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.admission.ConnectionLimits;
import dev.quire.gateway.admission.PriorityPolicy;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import dev.quire.gateway.ledger.LedgerSettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** The options of a process that serves the public API: {@code quire gateway} and {@code quire serve}. */
public final class GatewayOptions {

    @Option(names = "--host", defaultValue = "0.0.0.0", paramLabel = "ADDR",
            description = "Interface the public gRPC and HTTP ports listen on (default: ${DEFAULT-VALUE}).")
    public String host;

    @Option(names = "--grpc-port", defaultValue = "50051", paramLabel = "N",
            description = "gRPC port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    public int grpcPort;

    @Option(names = "--http-port", defaultValue = "8000", paramLabel = "N",
            description = "HTTP port for the OpenAI-compatible API, /health, /ready, /metrics, /cluster, /stats "
                    + "and the web console at / (default: ${DEFAULT-VALUE}).")
    public int httpPort;

    @Option(names = "--api-key", paramLabel = "KEY", split = ",",
            description = "Accept this API key (repeatable). With any key set, every request but health and "
                    + "metrics needs one: 'Authorization: Bearer KEY' on HTTP, 'authorization' metadata on gRPC.")
    public List<String> apiKeys = new ArrayList<>();

    @Option(names = "--api-keys-file", paramLabel = "FILE",
            description = "File of API keys, one per line ('#' starts a comment). A key may be followed by its "
                    + "own priority=N and/or min-priority=N, which replace --default-priority and --min-priority "
                    + "for requests with that key.")
    public Path apiKeysFile;

    @Option(names = "--default-priority", defaultValue = "0", paramLabel = "N",
            description = "Scheduling priority of a request that sets none (lower runs first), in [-1000, 1000] "
                    + "(default: ${DEFAULT-VALUE}).")
    public int defaultPriority;

    @Option(names = "--min-priority", defaultValue = "-1000", paramLabel = "N",
            description = "The most urgent priority a request may ask for: one asking for a lower number runs "
                    + "at this one instead; in [-1000, 1000], at most --default-priority (default: "
                    + "${DEFAULT-VALUE}, no cap).")
    public int minPriority;

    @Option(names = "--max-concurrent-requests", defaultValue = "4096", paramLabel = "N",
            description = "Requests admitted and not finished, over all clients (default: ${DEFAULT-VALUE}).")
    public int maxConcurrentRequests;

    @Option(names = "--max-queued-requests", defaultValue = "1024", paramLabel = "N",
            description = "Admitted requests not yet scheduled; beyond this new ones get 429 / RESOURCE_EXHAUSTED "
                    + "at once (default: ${DEFAULT-VALUE}).")
    public int maxQueuedRequests;

    @Option(names = "--queue-timeout", defaultValue = "60s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Fail a request not scheduled within this (default: ${DEFAULT-VALUE}).")
    public Duration queueTimeout;

    @Option(names = "--slow-client-timeout", defaultValue = "60s", paramLabel = "DURATION",
            converter = DurationConverter.class,
            description = "Abort a gRPC Generate stream whose client has read nothing for this long while output "
                    + "waits for it, freeing its KV cache; 0s never aborts (default: ${DEFAULT-VALUE}).")
    public Duration slowClientTimeout;

    @Option(names = "--rate-limit-rpm", defaultValue = "0", paramLabel = "N",
            description = "Requests per minute per API key; 0 for no limit (default: ${DEFAULT-VALUE}).")
    public long requestsPerMinute;

    @Option(names = "--rate-limit-tpm", defaultValue = "0", paramLabel = "N",
            description = "Prompt + generated tokens per minute per API key; 0 for no limit (default: ${DEFAULT-VALUE}).")
    public long tokensPerMinute;

    @Option(names = "--max-prompt-tokens", defaultValue = "0", paramLabel = "N",
            description = "Longest prompt accepted; 0 for the model's context length (default: ${DEFAULT-VALUE}).")
    public int maxPromptTokens;

    @Option(names = "--max-tokens-limit", defaultValue = "0", paramLabel = "N",
            description = "Largest max_tokens a request may ask for; 0 for no limit beyond the context "
                    + "(default: ${DEFAULT-VALUE}).")
    public int maxTokensLimit;

    @Option(names = "--max-request-bytes", defaultValue = "4m", paramLabel = "SIZE", converter = ByteSizeConverter.class,
            description = "Largest request body or gRPC message; larger ones get 413 / RESOURCE_EXHAUSTED "
                    + "(default: ${DEFAULT-VALUE}).")
    public long maxRequestBytes;

    @Option(names = "--max-text-jobs", defaultValue = "1024", paramLabel = "N",
            description = "Prompts being tokenized, chat templates being rendered and Tokenize/Detokenize calls, "
                    + "running or waiting for a thread, over all clients (this work comes before admission); beyond "
                    + "this new ones get 429 / RESOURCE_EXHAUSTED at once (default: ${DEFAULT-VALUE}).")
    public int maxTextJobs;

    @Option(names = "--max-streams-per-connection", defaultValue = "1000", paramLabel = "N",
            description = "Concurrent gRPC calls on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a "
                    + "client's further calls wait until one ends (default: ${DEFAULT-VALUE}).")
    public int maxStreamsPerConnection;

    @Option(names = "--max-connections", defaultValue = "10000", paramLabel = "N",
            description = "Open client connections on the gRPC and HTTP ports together; a new one beyond this is "
                    + "closed at once (default: ${DEFAULT-VALUE}).")
    public int maxConnections;

    @Option(names = "--idle-timeout", defaultValue = "5m", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Close a gRPC or HTTP connection that sends and receives nothing for this long; 0s never "
                    + "(default: ${DEFAULT-VALUE}).")
    public Duration idleTimeout;

    @Option(names = "--drain-timeout", defaultValue = "30s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "On SIGTERM, how long running requests may take to finish (default: ${DEFAULT-VALUE}).")
    public Duration drainTimeout;

    @Option(names = "--no-console", defaultValue = "false",
            description = "Do not serve the web console (the page at / on the HTTP port, and /console/...); the "
                    + "APIs, /cluster and /stats stay.")
    public boolean noConsole;

    @Option(names = "--log-request-content", defaultValue = "false",
            description = "Include prompt and output text in the access log (off by default: it may hold "
                    + "private data).")
    public boolean logRequestContent;

    @Option(names = "--ledger", defaultValue = "on", paramLabel = "on|off",
            description = "Record every request in the cluster's request ledger, so that a client whose gateway "
                    + "died retries with the same request_id on another gateway and gets the whole output, and a "
                    + "finished result can be fetched again for --result-ttl (default: ${DEFAULT-VALUE}).")
    public Toggle ledger;

    @Option(names = "--result-ttl", defaultValue = "5m", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "How long a finished request's result stays retrievable by its request_id (bounded to "
                    + "64 MiB per gateway, least recently used evicted first) (default: ${DEFAULT-VALUE}).")
    public Duration resultTtl;

    /** A feature switch. */
    public enum Toggle { on, off }

    /** How these options use the request ledger. */
    public LedgerSettings ledgerSettings() {
        if (resultTtl.isNegative() || resultTtl.isZero()) {
            throw new IllegalArgumentException("--result-ttl must be positive");
        }
        return new LedgerSettings(ledger == Toggle.on, resultTtl);
    }

    /** The admission bounds these options set. */
    public AdmissionLimits limits() {
        if (maxRequestBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("--max-request-bytes must be below 2g");
        }
        positive("--max-text-jobs", maxTextJobs);
        positive("--max-streams-per-connection", maxStreamsPerConnection);
        positive("--max-connections", maxConnections);
        return new AdmissionLimits(maxConcurrentRequests, maxQueuedRequests, queueTimeout, requestsPerMinute,
                tokensPerMinute, maxPromptTokens, maxTokensLimit, (int) maxRequestBytes, priority(), slowClientTimeout,
                maxTextJobs, new ConnectionLimits(maxStreamsPerConnection, maxConnections, idleTimeout));
    }

    /** The server's priority policy: {@code --default-priority} and {@code --min-priority}. */
    public PriorityPolicy priority() {
        checkPriority("--default-priority", defaultPriority);
        checkPriority("--min-priority", minPriority);
        if (defaultPriority < minPriority) {
            throw new IllegalArgumentException("--default-priority " + defaultPriority + " is below --min-priority "
                    + minPriority + ", the most urgent priority allowed");
        }
        return new PriorityPolicy(defaultPriority, minPriority);
    }

    private static void positive(String option, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(option + " must be positive, got " + value);
        }
    }

    private static void checkPriority(String option, int value) {
        if (value < PriorityPolicy.MIN_VALUE || value > PriorityPolicy.MAX_VALUE) {
            throw new IllegalArgumentException(option + " must be in [" + PriorityPolicy.MIN_VALUE + ", "
                    + PriorityPolicy.MAX_VALUE + "], got " + value);
        }
    }

    /** The API keys these options accept. */
    public ApiKeys keys() {
        return ApiKeys.of(apiKeys, apiKeysFile);
    }
}
