package dev.quire.server.cli;

import dev.quire.gateway.cli.GatewayOptions;
import dev.quire.server.AllInOneServer;
import dev.quire.gateway.cli.LoggingOptions;
import dev.quire.gateway.cli.ProcessLifecycle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code quire serve}: the all-in-one cluster in one process. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Run the all-in-one cluster (gateway + one worker + an embedded Hazelcast member bound to "
                + "loopback) on one model, with no network hop between the gateway and its engine.",
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

    @Mixin
    EngineOptions engine;

    @Mixin
    GatewayOptions gateway;

    @Option(names = "--cluster-name", defaultValue = "quire", paramLabel = "NAME",
            description = "Hazelcast cluster name of the embedded member (default: ${DEFAULT-VALUE}).")
    String clusterName;

    @Mixin
    LoggingOptions logging;

    @Override
    public Integer call() throws Exception {
        logging.apply();
        AllInOneServer server = AllInOneServer.start(new AllInOneServer.Options(engine.modelDir(), engine.modelName(),
                gateway.host, gateway.grpcPort, gateway.httpPort, engine.engineConfig(), clusterName, gateway.keys(),
                gateway.limits(), gateway.logRequestContent, gateway.ledgerSettings(), !gateway.noConsole));
        ProcessLifecycle.awaitTermination(() -> server.drainAndClose(gateway.drainTimeout));
        return 0;
    }
}
