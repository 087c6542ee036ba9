package dev.quire.loadtest.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.loadtest.driver.Backend;
import dev.quire.loadtest.driver.ExtraBody;
import dev.quire.loadtest.driver.FaultInjector;
import dev.quire.loadtest.driver.OpenAiDriver;
import dev.quire.loadtest.driver.RequestOptions;
import dev.quire.loadtest.driver.Target;
import dev.quire.loadtest.report.Slo;
import dev.quire.loadtest.workload.Dataset;

import java.time.Duration;
import java.util.Arrays;

/**
 * The options of one {@code quire bench} run, checked and resolved before anything is sent: every problem is
 * an {@link IllegalArgumentException} with one line naming the option.
 *
 * @param target         where requests go
 * @param requestOptions options of every request (model still unresolved)
 * @param slo            goodput bounds
 * @param percentiles    percentiles to report, ascending
 * @param rates          request rates (several: a rate sweep)
 * @param concurrencies  concurrency limits, 0 for none (several: a concurrency sweep)
 * @param duration       per-point duration, or null
 * @param numRequests    per-point request count, 0 when bounded by duration only
 * @param faultPlan      the fault to inject, or null
 * @param kind           the workload kind
 * @param dataset        the dataset for sharegpt/jsonl, else null
 * @param threads        client event loops
 */
record Settings(Target target, RequestOptions requestOptions, Slo slo, double[] percentiles,
                        double[] rates, int[] concurrencies, Duration duration, int numRequests,
                        FaultInjector.Plan faultPlan, BenchOptions.WorkloadKind kind, Dataset dataset, int threads) {

    /** Checks the command's options; loads the dataset (so a bad file fails before any connection). */
    static Settings from(BenchCommand c) {
        Target t = Target.parse(c.target.url, c.target.endpoint == BenchOptions.Endpoint.chat);
        Slo slo = Slo.parse(c.output.slo);
        double[] percentiles = Values.percentiles(c.output.percentiles);
        Arrays.sort(percentiles);
        double[] rates = Values.rates(c.load.requestRate);
        int[] concurrencies = c.load.concurrency == null ? new int[]{0} : Values.counts(c.load.concurrency, "--concurrency");
        if (rates.length > 1 && concurrencies.length > 1) {
            throw new IllegalArgumentException("sweep either --request-rate or --concurrency, not both (the other "
                    + "takes one value)");
        }
        Duration duration = c.load.duration == null ? null : Values.duration(c.load.duration, "--duration");
        if (duration != null && duration.isZero()) {
            throw new IllegalArgumentException("--duration must be > 0");
        }
        int n = c.load.numRequests != null ? c.load.numRequests : duration != null ? 0 : 100;
        if (c.load.numRequests != null && c.load.numRequests < 1) {
            throw new IllegalArgumentException("--num-requests must be >= 1");
        }
        if (duration != null && n == 0) {
            for (double r : rates) {
                for (int limit : concurrencies) {
                    if (Double.isInfinite(r) && limit == 0) {
                        throw new IllegalArgumentException("--duration needs a finite --request-rate or a --concurrency "
                                + "limit; otherwise requests would be opened without end");
                    }
                }
            }
        }
        if (!(c.load.burstiness > 0) || Double.isInfinite(c.load.burstiness)) {
            throw new IllegalArgumentException("--burstiness must be > 0 (1 = Poisson)");
        }
        if (c.load.warmupRequests < 0) {
            throw new IllegalArgumentException("--warmup-requests must be >= 0");
        }
        if (c.workload.inputLen < 1 || (c.workload.outputLen != null && c.workload.outputLen < 1)) {
            throw new IllegalArgumentException("--input-len and --output-len must be >= 1");
        }
        if (c.workload.rangeRatio < 0 || c.workload.rangeRatio >= 1) {
            throw new IllegalArgumentException("--range-ratio must be in [0, 1)");
        }
        Duration timeout = Values.duration(c.request.requestTimeout, "--request-timeout");
        if (timeout.isZero()) {
            throw new IllegalArgumentException("--request-timeout must be > 0");
        }
        if (!(c.request.temperature >= 0)) {
            throw new IllegalArgumentException("--temperature must be >= 0");
        }
        FaultInjector.Plan faultPlan = null;
        if (c.fault.at != null) {
            faultPlan = new FaultInjector.Plan(Values.duration(c.fault.at, "--kill-worker-at"), c.fault.pidFile,
                    c.fault.command);
        } else if (c.fault.pidFile != null || c.fault.command != null) {
            throw new IllegalArgumentException("--worker-pid-file and --fault-command need --kill-worker-at TIME");
        }
        BenchOptions.WorkloadKind kind = c.workload.kind;
        if (kind == null) {
            kind = c.workload.dataset == null ? BenchOptions.WorkloadKind.random
                    : Dataset.guessFormat(c.workload.dataset) == Dataset.Format.JSONL ? BenchOptions.WorkloadKind.jsonl
                    : BenchOptions.WorkloadKind.sharegpt;
        }
        Dataset dataset = null;
        if (kind == BenchOptions.WorkloadKind.sharegpt || kind == BenchOptions.WorkloadKind.jsonl) {
            if (c.workload.dataset == null) {
                throw new IllegalArgumentException("--workload " + kind + " needs --dataset FILE");
            }
            dataset = Dataset.load(c.workload.dataset, kind == BenchOptions.WorkloadKind.jsonl ? Dataset.Format.JSONL
                    : Dataset.Format.SHAREGPT, c.workload.outputLen == null ? 0 : c.workload.outputLen);
        } else if (c.workload.dataset != null) {
            throw new IllegalArgumentException("--dataset goes with --workload sharegpt or jsonl, not " + kind);
        }
        if (kind == BenchOptions.WorkloadKind.shared_prefix && (c.workload.prefixGroups < 1 || c.workload.prefixLen < 1)) {
            throw new IllegalArgumentException("--prefix-groups and --prefix-len must be >= 1");
        }
        int threads = c.load.clientThreads != null ? c.load.clientThreads
                : Math.min(4, Runtime.getRuntime().availableProcessors());
        if (threads < 1) {
            throw new IllegalArgumentException("--client-threads must be >= 1");
        }
        ObjectNode extraBody = ExtraBody.parse(c.request.extraBody);
        if (extraBody != null && t.backend() == Backend.QUIRE_GRPC) {
            throw new IllegalArgumentException("--extra-body is for OpenAI-compatible HTTP targets (http://, https://); "
                    + "Quire's gRPC API has no request body to extend");
        }
        RequestOptions options = new RequestOptions(c.target.model == null ? "" : c.target.model, c.request.temperature,
                c.request.ignoreEos, c.request.stream, c.target.apiKey, timeout, extraBody);
        if (extraBody != null) {
            OpenAiDriver.checkExtraBody(options, t.backend() == Backend.OPENAI_CHAT);
        }
        return new Settings(t, options, slo, percentiles, rates, concurrencies, duration, n, faultPlan, kind, dataset,
                threads);
    }
}
