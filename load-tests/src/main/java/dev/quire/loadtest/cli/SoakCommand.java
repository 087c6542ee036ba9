package dev.quire.loadtest.cli;

import dev.quire.loadtest.driver.ServerInfo;
import dev.quire.loadtest.soak.Gauges;
import dev.quire.loadtest.soak.Sample;
import dev.quire.loadtest.soak.SoakLoad;
import dev.quire.loadtest.soak.SoakReport;
import dev.quire.loadtest.soak.SoakVerdict;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code quire soak}: runs a mixed load against a Quire server for a while, samples its gauges throughout,
 * and passes when memory plateaus and every gauge returns to idle after the load. Registered by class name as
 * the {@code soak} subcommand of {@code quire}.
 */
@Command(name = "soak", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        versionProvider = BenchCommand.Version.class,
        description = {
                "Soak test: a mixed load against a Quire server; passes when memory plateaus and every gauge "
                        + "returns to idle after it.",
                "",
                "Sends, for --duration, streaming and non-streaming requests, text and token-id prompts, gRPC "
                        + "cancels and aborts, client disconnects, slow readers and malformed requests; samples the "
                        + "server's /metrics every --sample-interval (resident memory, heap, threads, open files, KV "
                        + "cache use, running, waiting and admitted requests), and judges:",
                "  - memory plateaus: over the last third of the load, resident memory grows less than "
                        + "--max-growth, and the heap's troughs less than --max-growth of its maximum size;",
                "  - every gauge returns to idle once the load stops: no request running, waiting, admitted or "
                        + "queued, no KV block held, threads and open files back to their level after the warm-up;",
                "  - every request got the answer it must (a whole stream with its finish reason, the right "
                        + "error status).",
                "The warm-up (--warmup) runs the same mix first, so pools and caches reach their working size "
                        + "before the baseline is read.",
                ""},
        footerHeading = "%nExamples:%n",
        footer = {
                "  # three minutes against ./quire serve on this machine; report in soak.json and soak.md",
                "  quire soak --duration 3m --out soak.json",
                "  # an hour against a remote server",
                "  quire soak --http http://10.0.0.5:8000 --grpc grpc://10.0.0.5:50051 --duration 60m --out soak.json",
                "",
                "Exit status: 0 the soak passed; 1 it failed (or could not run); 2 a bad option."})
public final class SoakCommand implements Callable<Integer> {

    @Option(names = "--http", paramLabel = "URL", defaultValue = "http://localhost:8000",
            description = "The server's HTTP API and /metrics (default: ${DEFAULT-VALUE}).")
    String httpUrl;

    @Option(names = "--grpc", paramLabel = "URL", defaultValue = "grpc://localhost:50051",
            description = "The server's gRPC API (default: ${DEFAULT-VALUE}).")
    String grpcUrl;

    @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:QUIRE_API_KEY}",
            description = "Sent as 'authorization: Bearer KEY'; default: the QUIRE_API_KEY environment variable.")
    String apiKey;

    @Option(names = "--duration", paramLabel = "TIME", defaultValue = "3m",
            description = "How long the load runs (default: ${DEFAULT-VALUE}).")
    String duration;

    @Option(names = "--warmup", paramLabel = "TIME", defaultValue = "20s",
            description = "The mix run before the baseline is read (default: ${DEFAULT-VALUE}).")
    String warmup;

    @Option(names = {"-c", "--concurrency"}, paramLabel = "N", defaultValue = "8",
            description = "Client threads, each with one request in flight (default: ${DEFAULT-VALUE}).")
    int concurrency;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "96",
            description = "Most tokens a request generates (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--sample-interval", paramLabel = "TIME", defaultValue = "5s",
            description = "How often the gauges are read under load (default: ${DEFAULT-VALUE}).")
    String sampleInterval;

    @Option(names = "--settle", paramLabel = "TIME", defaultValue = "60s",
            description = "How long the gauges may take to return to idle after the load (default: ${DEFAULT-VALUE}).")
    String settle;

    @Option(names = "--max-growth", paramLabel = "PERCENT", defaultValue = "2",
            description = "Largest memory growth over the last third that passes, in percent (default: ${DEFAULT-VALUE}).")
    double maxGrowthPercent;

    @Option(names = "--slack", paramLabel = "N", defaultValue = "4",
            description = "Threads and open files allowed above the idle baseline after the load "
                    + "(default: ${DEFAULT-VALUE}).")
    int slack;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Random seed of the mix (default: 0).")
    long seed;

    @Option(names = "--out", paramLabel = "FILE",
            description = "Write the report here as JSON, and as Markdown next to it (FILE with .md).")
    Path out;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public SoakCommand() {
        // picocli instantiates the command by class name (the quire launcher).
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        Duration load = Values.duration(duration, "--duration");
        Duration warm = Values.duration(warmup, "--warmup");
        Duration interval = Values.duration(sampleInterval, "--sample-interval");
        Duration settleTime = Values.duration(settle, "--settle");
        if (concurrency < 1 || maxTokens < 8 || interval.isZero() || load.isZero()) {
            throw new IllegalArgumentException("--concurrency must be >= 1, --max-tokens >= 8, --duration and "
                    + "--sample-interval > 0");
        }
        URI http = URI.create(httpUrl);
        URI grpc = URI.create(grpcUrl);
        String authorization = apiKey == null || apiKey.isBlank() ? null : "Bearer " + apiKey;
        ServerInfo server;
        try {
            server = SoakLoad.probe(grpc.getHost(), grpc.getPort(), authorization);
        } catch (Exception e) {
            throw new IllegalStateException("cannot reach " + grpcUrl + ": " + e.getMessage());
        }
        int maxTokensFit = Math.min(maxTokens, Math.max(8, server.maxContext() - 64));
        dev.quire.loadtest.soak.SoakMetrics metrics = new dev.quire.loadtest.soak.SoakMetrics(http.getHost(),
                http.getPort(), authorization);
        Gauges first = metrics.read();
        if (Double.isNaN(first.rssBytes()) || Double.isNaN(first.heapBytes()) || Double.isNaN(first.threads())
                || Double.isNaN(first.fds()) || Double.isNaN(first.kvBlocksUsed())) {
            throw new IllegalStateException(httpUrl + "/metrics lacks gauges the soak needs (process_resident_memory_"
                    + "bytes, jvm_memory_used_bytes, jvm_threads_live_threads, process_files_open_files, "
                    + "quire_kv_cache_blocks_used); is it a Quire server of this version?");
        }
        err.printf("quire soak: %s, model %s, %d clients for %s after a %s warm-up%n", httpUrl, server.model(),
                concurrency, duration, warmup);

        long start = System.nanoTime();
        List<Sample> samples = Collections.synchronizedList(new ArrayList<>());
        AtomicReference<String> phase = new AtomicReference<>("warmup");
        Gauges baseline;
        Gauges after;
        long unexpected;
        Map<SoakLoad.Kind, long[]> requests = new EnumMap<>(SoakLoad.Kind.class);
        List<String> messages;
        try (SoakLoad mix = new SoakLoad(http.getHost(), http.getPort(), grpc.getHost(), grpc.getPort(), authorization,
                server.model(), server.vocabSize(), server.maxContext(), maxTokensFit)) {
            ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "soak-sampler");
                t.setDaemon(true);
                return t;
            });
            sampler.scheduleAtFixedRate(() -> {
                try {
                    samples.add(new Sample(seconds(start), phase.get(), mix.inFlight(), metrics.read()));
                } catch (IOException e) {
                    err.println("quire soak: cannot read " + httpUrl + "/metrics: " + e.getMessage());
                }
            }, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
            try {
                if (!warm.isZero()) {
                    runFor(mix, warm, seed + 1);
                }
                phase.set("idle");
                baseline = awaitIdle(metrics, samples, start, phase, mix, settleTime, null);
                err.printf("quire soak: idle after the warm-up: %s threads, %s open files, RSS %.0f MiB%n",
                        Gauges.fmt(baseline.threads()), Gauges.fmt(baseline.fds()), baseline.rssBytes() / 1048576);
                phase.set("load");
                runFor(mix, load, seed);
                phase.set("settle");
            } finally {
                sampler.shutdownNow();
                sampler.awaitTermination(30, TimeUnit.SECONDS);
            }
            after = awaitIdle(metrics, samples, start, phase, mix, settleTime, baseline);
            unexpected = mix.unexpected();
            mix.tallies().forEach((k, t) -> requests.put(k, new long[]{t.sent.get(), t.ok.get(), t.refused.get(),
                    t.unexpected.get()}));
            messages = mix.messages();
        }
        List<Sample> loadSamples = samples.stream().filter(s -> s.phase().equals("load")).toList();
        List<SoakVerdict.Check> checks = SoakVerdict.judge(loadSamples, baseline, after, maxGrowthPercent / 100, slack,
                unexpected);
        SoakReport report = new SoakReport(config(server, maxTokensFit), List.copyOf(samples), baseline, requests,
                messages, checks);
        if (out != null) {
            report.write(out);
        }
        PrintWriter stdout = spec.commandLine().getOut();
        for (SoakVerdict.Check c : checks) {
            stdout.printf("%-14s %s  %s%n", c.name(), c.passed() ? "pass" : "FAIL", c.detail());
        }
        long sent = requests.values().stream().mapToLong(n -> n[0]).sum();
        stdout.printf("soak %s: %d requests in %s, %d samples%s%n", report.passed() ? "PASSED" : "FAILED", sent,
                duration, samples.size(), out == null ? "" : "; report in " + out);
        messages.stream().limit(5).forEach(m -> stdout.println("  unexpected: " + m));
        stdout.flush();
        return report.passed() ? 0 : 1;
    }

    private static double seconds(long start) {
        return Math.round((System.nanoTime() - start) / 1e8) / 10.0;
    }

    private void runFor(SoakLoad mix, Duration d, long runSeed) throws InterruptedException {
        AtomicBoolean stop = new AtomicBoolean();
        Thread timer = new Thread(() -> {
            try {
                Thread.sleep(d.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            stop.set(true);
        }, "soak-timer");
        timer.setDaemon(true);
        timer.start();
        mix.run(concurrency, runSeed, stop);
    }

    /**
     * Reads the gauges every second, recording each reading, until the server is idle (and, with a
     * {@code baseline}, threads and open files are back within the slack) or {@code limit} passes; returns
     * the last reading.
     */
    private Gauges awaitIdle(dev.quire.loadtest.soak.SoakMetrics metrics, List<Sample> samples, long start,
                             AtomicReference<String> phase, SoakLoad mix, Duration limit, Gauges baseline)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (true) {
            Gauges g = metrics.read();
            samples.add(new Sample(seconds(start), phase.get(), mix.inFlight(), g));
            boolean done = g.idle() && (baseline == null
                    || (g.threads() <= baseline.threads() + slack && g.fds() <= baseline.fds() + slack));
            if (done || System.nanoTime() >= deadline) {
                return g;
            }
            Thread.sleep(1000);
        }
    }

    private Map<String, Object> config(ServerInfo server, int maxTokensFit) {
        Map<String, Object> c = new LinkedHashMap<>();
        List<String> args = Values.ownArgs(spec);
        List<String> shown = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--api-key") && i + 1 < args.size()) {
                shown.add(a);
                shown.add("***");
                i++;
            } else {
                shown.add(a.startsWith("--api-key=") ? "--api-key=***" : a);
            }
        }
        c.put("command", ("quire soak " + String.join(" ", shown)).trim());
        c.put("date", OffsetDateTime.now().truncatedTo(ChronoUnit.SECONDS).toString());
        c.put("version", new BenchCommand.Version().getVersion()[0].replace("quire bench", "quire soak"));
        c.put("http", httpUrl);
        c.put("grpc", grpcUrl);
        c.put("model", server.model());
        c.put("duration", duration);
        c.put("warmup", warmup);
        c.put("concurrency", concurrency);
        c.put("max_tokens", maxTokensFit);
        c.put("sample_interval", sampleInterval);
        c.put("settle", settle);
        c.put("max_growth_percent", maxGrowthPercent);
        c.put("slack", slack);
        c.put("seed", seed);
        return c;
    }
}
