package dev.quire.gateway.cli;

import dev.quire.gateway.ClusterGateway;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code quire gateway}: the public API in front of the cluster's workers. */
@Command(name = "gateway", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Run a gateway: the public gRPC and OpenAI-compatible HTTP API of the cluster. It joins the "
                + "Hazelcast cluster, sees the workers as they join and leave, and places each request on one of "
                + "them. Several gateways may run at once; they need no coordination with each other. A gateway "
                + "loads no model.",
                "",
                "Every option can also be set in a YAML file (--config) or as an environment variable "
                        + "(QUIRE_CLUSTER_SECRET=...), as for quire serve.",
                ""},
        footer = {"", "On SIGTERM the gateway stops admitting requests (readiness turns false), lets running ones "
                + "finish for up to --drain-timeout, then exits."})
public final class GatewayCommand implements Callable<Integer> {

    @Option(names = "--config", paramLabel = "FILE", description = "YAML file with option values.")
    Path config;

    @Mixin
    GatewayOptions gateway;

    @Mixin
    ClusterOptions cluster;

    @Option(names = "--placement", defaultValue = "cache-aware", paramLabel = "POLICY",
            description = "How requests are placed on workers: cache-aware (the worker holding the longest cached "
                    + "prefix of the prompt, unless it is much busier than the least-loaded one), least-loaded or "
                    + "round-robin (default: ${DEFAULT-VALUE}).")
    String placement;

    @Option(names = "--balance-threshold", defaultValue = "32", paramLabel = "LOAD",
            description = "cache-aware: how much busier (queued x 2 + running) the worker with the cached prefix may "
                    + "be than the least-loaded worker and still get the request (default: ${DEFAULT-VALUE}).")
    double balanceThreshold;

    @Option(names = "--worker-queue-limit", defaultValue = "4", paramLabel = "N",
            description = "Requests that may wait on a worker beyond the sequences it runs at once (its --max-seqs); "
                    + "further ones wait in this gateway's queue (priority, then arrival) and go to whichever worker "
                    + "frees a slot first (default: ${DEFAULT-VALUE}).")
    int workerQueueLimit;

    @Mixin
    LoggingOptions logging;

    @Override
    public Integer call() throws Exception {
        logging.apply();
        ClusterGateway server = ClusterGateway.start(new ClusterGateway.Options(gateway.host, gateway.grpcPort,
                gateway.httpPort, gateway.keys(), gateway.limits(), gateway.logRequestContent,
                cluster.settings(false), cluster.secret(), placement, balanceThreshold, workerQueueLimit,
                gateway.ledgerSettings(), !gateway.noConsole));
        ProcessLifecycle.awaitTermination(() -> server.drainAndClose(gateway.drainTimeout));
        return 0;
    }
}
