package dev.quire.loadtest.cli;

import dev.quire.loadtest.driver.Backend;
import dev.quire.loadtest.driver.ClientEventLoops;
import dev.quire.loadtest.driver.Driver;
import dev.quire.loadtest.driver.FaultInjector;
import dev.quire.loadtest.driver.LoadPlan;
import dev.quire.loadtest.driver.LoadRunner;
import dev.quire.loadtest.driver.OpenAiDriver;
import dev.quire.loadtest.driver.Outcome;
import dev.quire.loadtest.driver.PointRun;
import dev.quire.loadtest.driver.Progress;
import dev.quire.loadtest.driver.QuireGrpcDriver;
import dev.quire.loadtest.driver.RequestOptions;
import dev.quire.loadtest.driver.RequestResult;
import dev.quire.loadtest.driver.ServerInfo;
import dev.quire.loadtest.driver.Target;
import dev.quire.loadtest.report.BenchReport;
import dev.quire.loadtest.report.HtmlReport;
import dev.quire.loadtest.report.JsonReport;
import dev.quire.loadtest.report.PointMetrics;
import dev.quire.loadtest.report.PointReport;
import dev.quire.loadtest.report.ProgressLine;
import dev.quire.loadtest.report.ResultTable;
import dev.quire.loadtest.report.Slo;
import dev.quire.loadtest.workload.Dataset;
import dev.quire.loadtest.workload.DatasetWorkload;
import dev.quire.loadtest.workload.PromptFormat;
import dev.quire.loadtest.workload.PromptSynthesizer;
import dev.quire.loadtest.workload.RandomWorkload;
import dev.quire.loadtest.workload.SharedPrefixWorkload;
import dev.quire.loadtest.workload.Workload;
import io.vertx.core.Vertx;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.LongFunction;
import java.util.stream.Collectors;

/**
 * {@code quire bench}: the serving benchmark. Sends a reproducible workload to Quire's gRPC API or an
 * OpenAI-compatible server at a request rate or a concurrency (or a sweep of them) and reports the field's
 * metrics under the field's names. Registered by class name as the {@code bench} subcommand of {@code quire};
 * {@link BenchMain} runs it on its own.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        versionProvider = BenchCommand.Version.class,
        description = {
                "Benchmark an LLM server the way the field does: send a reproducible workload at a request rate "
                        + "or a concurrency (or a sweep of either) and report time to first token (TTFT), time per "
                        + "output token (TPOT), inter-token latency (ITL), end-to-end latency (E2EL), throughput and "
                        + "goodput, under vLLM benchmark_serving's metric names.",
                "Targets Quire's gRPC API (grpc://host:port; the default is ./quire serve on this machine) or any "
                        + "OpenAI-compatible server (http://host:port: vLLM, llama.cpp, Quire's HTTP API), so the "
                        + "same workload compares servers.",
                ""},
        customSynopsis = {
                "quire bench [--target URL] [-c C[,C...] | --request-rate R[,R...]]",
                "            [-n N | --duration TIME] [--out FILE] [OPTIONS...]"},
        footerHeading = "%nExamples:%n",
        footer = {
                "  # 100 random requests (128 tokens in, 128 out) at once against ./quire serve",
                "  quire bench",
                "  # concurrency sweep; writes results/c.json and the HTML report results/c.html",
                "  quire bench -c 1,4,16 -n 200 --ignore-eos --out results/c.json",
                "  # Poisson rate sweep against an OpenAI-compatible server (vLLM, llama.cpp)",
                "  quire bench --target http://localhost:8000 --request-rate 2,4,8 --duration 60s",
                "  # ShareGPT conversations at 4 req/s, goodput under SLOs",
                "  quire bench --dataset sg.json --request-rate 4 --slo ttft=500ms,tpot=50ms",
                "  # SIGKILL a worker 30 s in; count failed, truncated, duplicated-token requests",
                "  quire bench -c 16 --duration 2m --kill-worker-at 30s --worker-pid-file w.pid",
                "",
                "Metrics (ms, over completed requests): TTFT = send to first token; TPOT =",
                "(E2EL - TTFT) / (output tokens - 1); ITL = every gap between token-carrying",
                "chunks; E2EL = send to end of response. Throughputs divide by the time from",
                "the first send to the last finish. More in docs/benchmarking.md.",
                "",
                "Exit status: 0 the benchmark ran; 1 a configuration error, a bad dataset, an",
                "unreachable target, or every request failed; 2 a bad option."})
public final class BenchCommand implements Callable<Integer> {

    @ArgGroup(validate = false, heading = "%nTarget:%n", order = 1)
    BenchOptions.Target target = new BenchOptions.Target();

    @ArgGroup(validate = false, heading = "%nWorkload:%n", order = 2)
    BenchOptions.Workload workload = new BenchOptions.Workload();

    @ArgGroup(validate = false, heading = "%nLoad:%n", order = 3)
    BenchOptions.Load load = new BenchOptions.Load();

    @ArgGroup(validate = false, heading = "%nRequests:%n", order = 4)
    BenchOptions.Requests request = new BenchOptions.Requests();

    @ArgGroup(validate = false, heading = "%nResults:%n", order = 5)
    BenchOptions.Output output = new BenchOptions.Output();

    @ArgGroup(validate = false, heading = "%nFault injection (clusters):%n", order = 6)
    BenchOptions.Faults fault = new BenchOptions.Faults();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public BenchCommand() {
        // picocli instantiates the command by class name (the quire launcher) or directly (BenchMain).
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Settings s = Settings.from(this);

        // Learn the model (and, from Quire, vocabulary and context) before building prompts.
        ServerInfo server = probe(s);
        RequestOptions options = s.requestOptions().withModel(server.model());
        int vocab = workload.vocabSize > 0 ? workload.vocabSize : server.vocabSize();
        PromptFormat format = promptFormat(s.target().backend(), vocab);
        Dataset dataset = s.dataset() == null ? null : s.dataset().fitting(server.maxContext());
        checkContext(s.kind(), server.maxContext());
        LongFunction<Workload> workloads = workloads(s.kind(), dataset, new PromptSynthesizer(format, vocab));

        Map<String, Object> config = config(s, options, server, format, vocab, dataset);
        err.printf("quire bench: %s, model %s, %s workload, %s prompts%n", s.target().url(), server.model(),
                s.kind(), format == PromptFormat.IDS ? "token-id" : "text");

        FaultInjector faults = s.faultPlan() == null ? null : new FaultInjector(s.faultPlan());
        List<PointReport> points = new ArrayList<>();
        // Every request of the first point, kept or not in the report: the faults' recoveries are measured on them.
        List<RequestResult> faultWindow = new ArrayList<>();
        boolean everyRequestFailed = false;
        String firstError = null;
        try (ClientEventLoops loops = ClientEventLoops.start(s.threads(), vertx -> driver(vertx, s.target(), options,
                maxInFlight(s)))) {
            checkFirstRequest(loops, s, workloads);
            boolean progress = !output.noProgress && System.console() != null;
            for (LoadPlan plan : plans(s)) {
                ProgressLine line = progress ? new ProgressLine(err) : null;
                Consumer<Progress> onProgress = line != null ? line : p -> { };
                PointRun run = LoadRunner.run(loops, plan, workloads.apply(workload.seed),
                                workloads.apply(workload.seed ^ 0x5DEECE66DL), request.stream, onProgress,
                                start -> {
                                    if (faults != null) {
                                        faults.arm(loops.vertx(), start);
                                    }
                                })
                        .await();
                if (line != null) {
                    line.finish();
                }
                PointMetrics metrics = PointMetrics.of(run, s.percentiles(), s.slo());
                PointReport point = new PointReport(plan.label(), plan.requestRate(), plan.burstiness(),
                        plan.maxConcurrency(), metrics, output.saveRequests ? run.results() : List.of());
                points.add(point);
                if (points.size() == 1) {
                    faultWindow.addAll(run.results());
                }
                out.print(ResultTable.point(point, s.percentiles()));
                out.flush();
                if (metrics.get("completed") == 0 && !run.results().isEmpty()) {
                    everyRequestFailed = true;
                    RequestResult r = run.results().get(0);
                    firstError = r.outcome() == Outcome.FAILED ? r.errorKind() + ": " + r.errorMessage() : "truncated";
                }
                // Written after every point, so an interrupted sweep keeps what it measured.
                write(report(config, points, faults, faultWindow), s);
            }
            if (faults != null) {
                waitForFault(faults, s.faultPlan());
            }
        }
        BenchReport report = report(config, points, faults, faultWindow);
        write(report, s);
        out.print(ResultTable.tail(report, s.percentiles()));
        out.flush();
        if (everyRequestFailed) {
            throw new IllegalStateException("every request of a load point failed (first: " + firstError + ")");
        }
        return 0;
    }

    private ServerInfo probe(Settings s) {
        Vertx vertx = Vertx.vertx();
        try {
            Driver driver = driver(vertx, s.target(), s.requestOptions(), 1);
            try {
                return driver.probe().await(30, TimeUnit.SECONDS);
            } finally {
                driver.close();
            }
        } catch (IllegalStateException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("cannot reach " + s.target().url() + ": " + e.getMessage());
        } finally {
            vertx.close();
        }
    }

    private static Driver driver(Vertx vertx, Target target, RequestOptions options, int maxInFlight) {
        return target.backend() == Backend.QUIRE_GRPC ? new QuireGrpcDriver(vertx, target, options)
                : new OpenAiDriver(vertx, target, options, maxInFlight);
    }

    /** HTTP/1.1 needs a connection per concurrent stream: size each loop's pool for the whole load. */
    private int maxInFlight(Settings s) {
        int c = Arrays.stream(s.concurrencies()).max().orElse(0);
        int bound = c > 0 ? c : s.numRequests() > 0 ? s.numRequests() : 4096;
        return Math.max(1, bound + load.warmupRequests);
    }

    private PromptFormat promptFormat(Backend backend, int vocab) {
        return switch (workload.promptFormat) {
            case text -> PromptFormat.TEXT;
            case ids -> {
                if (!backend.acceptsTokenIds()) {
                    throw new IllegalArgumentException("--prompt-format ids: chat endpoints take text only; use "
                            + "--endpoint completions or --prompt-format text");
                }
                if (vocab < 2) {
                    throw new IllegalArgumentException("--prompt-format ids needs the vocabulary size: the server does "
                            + "not report it, pass --vocab-size N");
                }
                yield PromptFormat.IDS;
            }
            case auto -> backend.acceptsTokenIds() && vocab >= 2 ? PromptFormat.IDS : PromptFormat.TEXT;
        };
    }

    private void checkContext(BenchOptions.WorkloadKind kind, int maxContext) {
        if (maxContext <= 0 || kind == BenchOptions.WorkloadKind.sharegpt || kind == BenchOptions.WorkloadKind.jsonl) {
            return;
        }
        double r = workload.rangeRatio;
        int out = outputLen();
        int in = (int) Math.ceil(workload.inputLen * (1 + r));
        if (kind == BenchOptions.WorkloadKind.shared_prefix) {
            in += workload.prefixLen;
        }
        int most = in + (int) Math.ceil(out * (1 + r));
        if (most > maxContext) {
            throw new IllegalArgumentException("prompts of up to " + in + " tokens plus " + (most - in) + " output "
                    + "tokens exceed the model's context of " + maxContext + " tokens; lower --input-len, "
                    + "--output-len" + (kind == BenchOptions.WorkloadKind.shared_prefix ? ", --prefix-len" : "")
                    + " or --range-ratio");
        }
    }

    private int outputLen() {
        return workload.outputLen != null ? workload.outputLen : 128;
    }

    private LongFunction<Workload> workloads(BenchOptions.WorkloadKind kind, Dataset dataset, PromptSynthesizer synth) {
        int out = outputLen();
        return switch (kind) {
            case random -> seed -> new RandomWorkload(synth, workload.inputLen, out, workload.rangeRatio, seed);
            case shared_prefix -> seed -> new SharedPrefixWorkload(synth, workload.prefixGroups, workload.prefixLen,
                    workload.inputLen, out, workload.rangeRatio, seed);
            case sharegpt, jsonl -> seed -> new DatasetWorkload(dataset, seed);
        };
    }

    /** One plan per sweep point. */
    private List<LoadPlan> plans(Settings s) {
        List<LoadPlan> plans = new ArrayList<>();
        boolean rateSweep = s.rates().length > 1;
        boolean concurrencySweep = s.concurrencies().length > 1;
        for (double rate : s.rates()) {
            for (int c : s.concurrencies()) {
                // A sweep point is named by the swept value; the fixed one is in the configuration.
                List<String> label = new ArrayList<>();
                if (rateSweep || (!concurrencySweep && !Double.isInfinite(rate))) {
                    label.add("rate=" + Values.rate(rate));
                }
                if (concurrencySweep || (!rateSweep && c > 0)) {
                    label.add("concurrency=" + c);
                }
                if (label.isEmpty()) {
                    label.add("rate=inf");
                }
                plans.add(new LoadPlan(String.join(" ", label), rate, load.burstiness, c, s.numRequests(),
                        s.duration(), load.warmupRequests, workload.seed, s.requestOptions().requestTimeout()));
            }
        }
        return plans;
    }

    /**
     * Sends one request before measuring, as vLLM does: a wrong model name or an unsupported option fails here
     * with the server's own message instead of as N failed requests.
     */
    private void checkFirstRequest(ClientEventLoops loops, Settings s, LongFunction<Workload> workloads) {
        LoadPlan probe = new LoadPlan("check", Double.POSITIVE_INFINITY, 1, 1, 1, null, 0, workload.seed,
                s.requestOptions().requestTimeout());
        PointRun run = LoadRunner.run(loops, probe, workloads.apply(workload.seed + 1), workloads.apply(workload.seed),
                s.requestOptions().stream(), p -> { }, t -> { }).await();
        RequestResult r = run.results().get(0);
        if (r.outcome() == Outcome.FAILED) {
            throw new IllegalStateException("the first test request to " + s.target().url() + " failed: "
                    + r.errorKind() + ": " + r.errorMessage());
        }
    }

    /** A fault set later than the run's end still fires before the report, so it is never silently skipped. */
    private static void waitForFault(FaultInjector faults, FaultInjector.Plan plan) throws InterruptedException {
        long deadline = System.nanoTime() + plan.at().toNanos() + TimeUnit.SECONDS.toNanos(75);
        int expected = (plan.pidFile() != null ? 1 : 0) + (plan.command() != null && !plan.command().isBlank() ? 1 : 0);
        while (faults.events().size() < expected && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
    }

    private BenchReport report(Map<String, Object> config, List<PointReport> points, FaultInjector faults,
                               List<RequestResult> faultWindow) {
        List<FaultInjector.Event> events = faults == null ? List.of() : faults.events();
        return new BenchReport(new Version().getVersion()[0],
                OffsetDateTime.now().truncatedTo(ChronoUnit.SECONDS).toString(), config, points, events,
                BenchReport.recoveries(events, faultWindow));
    }

    private void write(BenchReport report, Settings s) throws IOException {
        if (output.out != null) {
            JsonReport.write(report, output.out);
        }
        Path html = output.html;
        if (html == null && output.out != null && report.points().size() > 1) {
            String name = output.out.getFileName().toString();
            html = output.out.resolveSibling((name.endsWith(".json") ? name.substring(0, name.length() - 5) : name)
                    + ".html");
        }
        if (html != null) {
            HtmlReport.write(report, s.percentiles(), html);
        }
    }

    private Map<String, Object> config(Settings s, RequestOptions options, ServerInfo server, PromptFormat format,
                                       int vocab, Dataset dataset) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("command", "quire bench " + redactedArgs());
        c.put("target", s.target().url());
        c.put("backend", s.target().backend().label());
        c.put("model", server.model());
        c.put("workload", s.kind().toString());
        c.put("prompt_format", format.name().toLowerCase(java.util.Locale.ROOT));
        c.put("vocab_size", vocab > 0 ? vocab : null);
        c.put("max_context", server.maxContext() > 0 ? server.maxContext() : null);
        if (dataset != null) {
            c.put("dataset", dataset.source());
            c.put("dataset_entries", dataset.entries().size());
            c.put("output_len", workload.outputLen);
        } else {
            c.put("input_len", workload.inputLen);
            c.put("output_len", outputLen());
            c.put("range_ratio", workload.rangeRatio);
            if (s.kind() == BenchOptions.WorkloadKind.shared_prefix) {
                c.put("prefix_groups", workload.prefixGroups);
                c.put("prefix_len", workload.prefixLen);
            }
        }
        c.put("seed", workload.seed);
        c.put("num_requests", s.numRequests() > 0 ? s.numRequests() : null);
        c.put("duration_s", s.duration() == null ? null : s.duration().toMillis() / 1000.0);
        c.put("request_rates", Arrays.stream(s.rates()).mapToObj(Values::rate).collect(Collectors.joining(",")));
        c.put("concurrencies", s.concurrencies()[0] == 0 ? "unlimited"
                : Arrays.stream(s.concurrencies()).mapToObj(String::valueOf).collect(Collectors.joining(",")));
        c.put("burstiness", load.burstiness);
        c.put("warmup_requests", load.warmupRequests);
        c.put("ignore_eos", options.ignoreEos());
        c.put("temperature", options.temperature());
        c.put("stream", options.stream());
        if (options.extraBody() != null) {
            c.put("extra_body", options.extraBody());
        }
        c.put("request_timeout_s", options.requestTimeout().toMillis() / 1000.0);
        c.put("percentiles", Arrays.stream(s.percentiles()).boxed().toList());
        c.put("slo", s.slo().isEmpty() ? null : s.slo().toString());
        c.put("client_threads", s.threads());
        if (s.faultPlan() != null) {
            Map<String, Object> f = new LinkedHashMap<>();
            f.put("at_s", s.faultPlan().at().toMillis() / 1000.0);
            f.put("worker_pid_file", s.faultPlan().pidFile() == null ? null : s.faultPlan().pidFile().toString());
            f.put("fault_command", s.faultPlan().command());
            c.put("fault", f);
        }
        return c;
    }

    private String redactedArgs() {
        List<String> args = Values.ownArgs(spec);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--api-key") && i + 1 < args.size()) {
                out.add(a);
                out.add("***");
                i++;
            } else if (a.startsWith("--api-key=")) {
                out.add("--api-key=***");
            } else {
                out.add(a.contains(" ") ? "'" + a + "'" : a);
            }
        }
        return String.join(" ", out);
    }

    /** The module's version from the jar manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = BenchCommand.class.getPackage().getImplementationVersion();
            return new String[]{"quire bench " + (v == null ? "development build" : v)};
        }
    }
}
