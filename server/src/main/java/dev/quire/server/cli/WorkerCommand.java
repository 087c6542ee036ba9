package dev.quire.server.cli;

import dev.quire.gateway.cli.ClusterOptions;
import dev.quire.gateway.cli.DurationConverter;
import dev.quire.server.WorkerProcess;
import dev.quire.gateway.cli.LoggingOptions;
import dev.quire.gateway.cli.ProcessLifecycle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;

/** {@code quire worker}: runs a model for the cluster's gateways. */
@Command(name = "worker", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Run a worker: one engine on one model, reached by the cluster's gateways over the internal "
                + "data plane. It joins the Hazelcast cluster as a lite member and publishes its load and prefix "
                + "cache for placement; it serves no public API.",
                "",
                "Every option can also be set in a YAML file (--config) or as an environment variable "
                        + "(QUIRE_CLUSTER_SECRET=...), as for quire serve.",
                ""},
        footer = {"", "On SIGTERM (or `quire cluster drain`) the worker stops taking requests at once (gateways "
                + "place new ones elsewhere), lets running ones finish for up to --drain-timeout (or migrates them), "
                + "then leaves the cluster and exits."})
public final class WorkerCommand implements Callable<Integer> {

    @Option(names = "--config", paramLabel = "FILE", description = "YAML file with option values.")
    Path config;

    @Mixin
    EngineOptions engine;

    @Option(names = "--port", defaultValue = "0", paramLabel = "N",
            description = "Data-plane port on --cluster-interface; 0 picks a free one, logged and published "
                    + "(default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--metrics-port", defaultValue = "0", paramLabel = "N",
            description = "Port of /metrics, /health and /ready on --cluster-interface; 0 picks a free one "
                    + "(default: ${DEFAULT-VALUE}).")
    int metricsPort;

    @Mixin
    ClusterOptions cluster;

    @Option(names = "--drain-timeout", defaultValue = "30s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "On SIGTERM, how long running requests may take to finish (default: ${DEFAULT-VALUE}).")
    Duration drainTimeout;

    @Option(names = "--drain-mode", defaultValue = "finish", paramLabel = "MODE",
            description = "On SIGTERM: finish (requests in flight finish here, up to --drain-timeout) or migrate "
                    + "(they continue at once on other workers from the tokens already sent, so a rolling restart "
                    + "takes seconds) (default: ${DEFAULT-VALUE}).")
    DrainMode drainMode;

    @Option(names = "--orphan-grace", defaultValue = "30s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "How long a generation whose gateway died runs on, waiting for another gateway to take it "
                    + "over (a client retrying with the same request_id); then it is aborted (default: ${DEFAULT-VALUE}).")
    Duration orphanGrace;

    /** What a drain does with the requests in flight. */
    enum DrainMode { finish, migrate }

    @Option(names = "--simulate-step-time", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "For cluster benchmarks only: do not run the model; every engine step takes DURATION "
                    + "whatever the batch (a stand-in for a GPU) and gives each running request one placeholder "
                    + "token. The tokenizer still comes from --model.")
    Duration simulateStepTime;

    @Mixin
    LoggingOptions logging;

    @Override
    public Integer call() throws Exception {
        logging.apply();
        WorkerProcess worker = WorkerProcess.start(new WorkerProcess.Options(engine.modelDir(), engine.modelName(),
                engine.engineConfig(), port, metricsPort, cluster.settings(true), cluster.secret(),
                simulateStepTime, orphanGrace));
        // `quire cluster drain` stops the process as SIGTERM does, with the mode it asked for.
        worker.onRemoteDrain(() -> System.exit(0));
        ProcessLifecycle.awaitTermination(() -> worker.drainAndClose(drainTimeout,
                worker.drainMigrates(drainMode == DrainMode.migrate)));
        return 0;
    }
}
