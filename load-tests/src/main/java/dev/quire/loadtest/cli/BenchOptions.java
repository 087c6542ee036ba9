package dev.quire.loadtest.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * The options of {@code quire bench}, one class per help section. Values that picocli would reject with a
 * usage dump (durations, lists, SLOs) are kept as text and checked by {@link Settings}, so a bad value is one
 * clear line whichever command line runs the command.
 */
final class BenchOptions {
    private BenchOptions() {
    }

    /** Where requests go. */
    static final class Target {
        @Option(names = {"--target", "--base-url"}, paramLabel = "URL", defaultValue = "grpc://localhost:50051",
                description = "grpc://host:port for Quire's gRPC API, or http(s)://host:port for an "
                        + "OpenAI-compatible server (default: ${DEFAULT-VALUE}, i.e. ./quire serve).")
        String url = "grpc://localhost:50051";

        @Option(names = "--endpoint", paramLabel = "completions|chat", defaultValue = "completions",
                description = "HTTP targets: /v1/completions (prompts as token ids or text) or /v1/chat/completions "
                        + "(text only) (default: ${DEFAULT-VALUE}).")
        Endpoint endpoint = Endpoint.completions;

        @Option(names = "--model", paramLabel = "NAME",
                description = "Model to ask for (default: the first model the server lists).")
        String model = "";

        @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:QUIRE_API_KEY}",
                description = "Sent as 'authorization: Bearer KEY' (gRPC metadata or HTTP header); default: the "
                        + "QUIRE_API_KEY environment variable. Never written to the results.")
        String apiKey;
    }

    /** What requests look like. */
    static final class Workload {
        @Option(names = "--workload", paramLabel = "KIND",
                description = "random (synthetic prompts), shared-prefix (groups sharing a long prefix), sharegpt or "
                        + "jsonl (from --dataset) (default: random, or the --dataset file's format).")
        WorkloadKind kind;

        @Option(names = "--dataset", paramLabel = "FILE",
                description = "Requests from a file: ShareGPT JSON (first turn = prompt, second turn's length = "
                        + "output length) or JSONL lines {\"prompt\": \"text\" | [ids], \"output_len\": N}.")
        Path dataset;

        @Option(names = "--input-len", paramLabel = "N", defaultValue = "128",
                description = "Prompt tokens (random) or per-request suffix tokens after the shared prefix "
                        + "(default: ${DEFAULT-VALUE}).")
        int inputLen = 128;

        @Option(names = "--output-len", paramLabel = "N",
                description = "Tokens to generate per request, sent as max_tokens (default: 128; for datasets, "
                        + "overrides each entry's own length).")
        Integer outputLen;

        @Option(names = "--range-ratio", paramLabel = "R", defaultValue = "0",
                description = "Input and output lengths vary uniformly within +/- R of their value, R in [0, 1) "
                        + "(default: ${DEFAULT-VALUE}).")
        double rangeRatio;

        @Option(names = "--prefix-groups", paramLabel = "N", defaultValue = "4",
                description = "shared-prefix: number of distinct prefixes (default: ${DEFAULT-VALUE}).")
        int prefixGroups = 4;

        @Option(names = "--prefix-len", paramLabel = "N", defaultValue = "256",
                description = "shared-prefix: tokens in each shared prefix (default: ${DEFAULT-VALUE}).")
        int prefixLen = 256;

        @Option(names = "--prompt-format", paramLabel = "auto|ids|text", defaultValue = "auto",
                description = "Synthetic prompts as token ids (exact lengths, no tokenizer differences between "
                        + "servers) or random words; auto picks ids whenever the endpoint takes them and the "
                        + "vocabulary size is known (default: ${DEFAULT-VALUE}).")
        FormatChoice promptFormat = FormatChoice.auto;

        @Option(names = "--vocab-size", paramLabel = "N", defaultValue = "0",
                description = "Vocabulary size for token-id prompts (default: what Quire's ListModels reports; "
                        + "OpenAI servers do not report it).")
        int vocabSize;

        @Option(names = "--seed", paramLabel = "N", defaultValue = "0",
                description = "Seeds prompts, lengths, dataset order, arrival gaps and sampling: the same seed "
                        + "sends the same requests at the same times (default: ${DEFAULT-VALUE}).")
        long seed;
    }

    /** How much load, and how it arrives. */
    static final class Load {
        @Option(names = {"-n", "--num-requests"}, paramLabel = "N",
                description = "Requests to measure per load point (default: 100, or unlimited with --duration).")
        Integer numRequests;

        @Option(names = "--duration", paramLabel = "TIME",
                description = "Send new requests for this long per load point, e.g. 60s or 5m (with -n, whichever "
                        + "comes first); requests in flight then finish and count.")
        String duration;

        @Option(names = "--request-rate", paramLabel = "R[,R...]", defaultValue = "inf",
                description = "Requests per second, Poisson arrivals; inf sends as fast as --concurrency allows. "
                        + "A list runs a sweep (default: ${DEFAULT-VALUE}).")
        String requestRate = "inf";

        @Option(names = "--burstiness", paramLabel = "B", defaultValue = "1.0",
                description = "Arrival gaps are gamma-distributed with shape B: 1 = Poisson, < 1 burstier, > 1 "
                        + "more even (default: ${DEFAULT-VALUE}).")
        double burstiness = 1.0;

        @Option(names = {"-c", "--concurrency", "--max-concurrency"}, paramLabel = "C[,C...]",
                description = "Most requests in flight; with the default rate (inf) this is a closed loop of C "
                        + "clients. A list runs a sweep (default: no limit).")
        String concurrency;

        @Option(names = "--warmup-requests", paramLabel = "N", defaultValue = "0",
                description = "Unmeasured requests sent before each load point (default: ${DEFAULT-VALUE}).")
        int warmupRequests;

        @Option(names = "--client-threads", paramLabel = "N",
                description = "Event-loop threads of the load generator; each carries thousands of streams "
                        + "(default: min(4, cores)).")
        Integer clientThreads;
    }

    /** Per-request options. */
    static final class Requests {
        @Option(names = "--ignore-eos", description = "Generate exactly --output-len tokens, past end-of-sequence.")
        boolean ignoreEos;

        @Option(names = "--temperature", paramLabel = "T", defaultValue = "0",
                description = "Sampling temperature; 0 is greedy (default: ${DEFAULT-VALUE}).")
        double temperature;

        @Option(names = "--stream", negatable = true, defaultValue = "true", fallbackValue = "true",
                description = "Stream tokens (default). --no-stream waits for whole answers: only E2EL and "
                        + "throughput are measured.")
        boolean stream = true;

        @Option(names = "--request-timeout", paramLabel = "TIME", defaultValue = "10m",
                description = "A request running longer is cancelled and counted as failed (default: "
                        + "${DEFAULT-VALUE}).")
        String requestTimeout = "10m";

        @Option(names = "--extra-body", paramLabel = "JSON",
                description = "HTTP targets: a JSON object merged into every OpenAI request body, for "
                        + "server-specific fields, e.g. '{\"cache_prompt\": false}' (llama.cpp). It adds fields "
                        + "and extends objects such as stream_options; a field quire bench sets itself is an "
                        + "error. Not for grpc:// targets.")
        String extraBody;
    }

    /** What to write. */
    static final class Output {
        @Option(names = "--percentiles", paramLabel = "P[,P...]", defaultValue = "90,99",
                description = "Percentiles to report besides mean and median (default: ${DEFAULT-VALUE}).")
        String percentiles = "90,99";

        @Option(names = "--slo", paramLabel = "SPEC",
                description = "Goodput SLOs: requests/s that meet every bound, e.g. ttft=500ms,tpot=50ms,e2el=5s.")
        String slo;

        @Option(names = "--out", paramLabel = "FILE",
                description = "Write every aggregate and the run's configuration as JSON.")
        Path out;

        @Option(names = "--html", paramLabel = "FILE",
                description = "Write the throughput-vs-latency HTML report (default for a sweep with --out: the "
                        + "same name with .html).")
        Path html;

        @Option(names = "--save-requests", description = "Also write each request's own timings to --out.")
        boolean saveRequests;

        @Option(names = "--no-progress", negatable = false,
                description = "No live progress line (it is shown only on a terminal anyway).")
        boolean noProgress;
    }

    /** Fault injection. */
    static final class Faults {
        @Option(names = "--kill-worker-at", paramLabel = "TIME",
                description = "At this time into the (first) measured run, SIGKILL the pid in --worker-pid-file "
                        + "and/or run --fault-command; the report then counts failed, truncated and "
                        + "duplicated-token requests.")
        String at;

        @Option(names = "--worker-pid-file", paramLabel = "FILE", description = "File holding the worker's pid.")
        Path pidFile;

        @Option(names = "--fault-command", paramLabel = "CMD",
                description = "Shell command run at --kill-worker-at (e.g. 'docker kill quire-worker-1').")
        String command;
    }

    enum Endpoint { completions, chat }

    enum WorkloadKind {
        random, shared_prefix, sharegpt, jsonl;

        @Override
        public String toString() {
            return name().replace('_', '-');
        }
    }

    enum FormatChoice { auto, ids, text }
}
