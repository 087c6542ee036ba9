package dev.quire.server;

import dev.quire.gateway.ClusterGateway;
import dev.quire.gateway.FinalChunks;
import dev.quire.gateway.ledger.GatewayLedger;
import dev.quire.gateway.ledger.LedgerSettings;
import dev.quire.gateway.GatewayServer;
import dev.quire.gateway.cluster.ClusterStatus;
import dev.quire.scheduler.cluster.WorkerDirectory;
import java.util.Map;
import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.scheduler.cluster.ClusterMember;
import dev.quire.scheduler.cluster.ClusterSettings;
import dev.quire.scheduler.cluster.WorkerRegistry;
import dev.quire.worker.engine.EngineConfig;
import dev.quire.worker.engine.LlamaEngine;
import dev.quire.worker.model.ServedModel;
import dev.quire.worker.service.WorkerPresence;
import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * One JVM running the whole cluster: a standalone Hazelcast member, one worker engine and the
 * gateway in front of it.
 */
public final class AllInOneServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AllInOneServer.class);

    /**
     * @param modelDir    Hugging Face checkpoint folder
     * @param modelName   name clients use; null names it after the folder
     * @param host        interface the gateway binds
     * @param grpcPort    gRPC port; 0 picks a free one
     * @param httpPort    HTTP port (OpenAI-compatible API, health, metrics); 0 picks a free one
     * @param engine      engine settings
     * @param clusterName Hazelcast cluster name
     * @param keys        accepted API keys
     * @param limits      admission bounds
     * @param logContent  whether the access log may contain prompt and output text
     * @param ledger      how the request ledger is used (kept results, ALREADY_EXISTS across retries)
     * @param console     whether the HTTP port serves the web console
     */
    public record Options(Path modelDir, String modelName, String host, int grpcPort, int httpPort,
                          EngineConfig engine, String clusterName, ApiKeys keys, AdmissionLimits limits,
                          boolean logContent, LedgerSettings ledger, boolean console) {

        /** With the web console. */
        public Options(Path modelDir, String modelName, String host, int grpcPort, int httpPort,
                       EngineConfig engine, String clusterName, ApiKeys keys, AdmissionLimits limits,
                       boolean logContent, LedgerSettings ledger) {
            this(modelDir, modelName, host, grpcPort, httpPort, engine, clusterName, keys, limits, logContent, ledger,
                    true);
        }

        /** Loopback, free ports, no keys, default limits: for tests and embedding. */
        public static Options local(Path modelDir, EngineConfig engine) {
            return new Options(modelDir, null, "127.0.0.1", 0, 0, engine, "quire-" + java.util.UUID.randomUUID(),
                    ApiKeys.none(), AdmissionLimits.defaults(), false, LedgerSettings.DEFAULTS);
        }

        public Options withKeys(ApiKeys k) {
            return new Options(modelDir, modelName, host, grpcPort, httpPort, engine, clusterName, k, limits,
                    logContent, ledger, console);
        }

        public Options withLimits(AdmissionLimits l) {
            return new Options(modelDir, modelName, host, grpcPort, httpPort, engine, clusterName, keys, l,
                    logContent, ledger, console);
        }
    }

    private final ClusterMember member;
    private final WorkerRegistry registry;
    private final WorkerDirectory directory;
    private final LlamaEngine engine;
    private final WorkerPresence presence;
    private final Vertx vertx;
    private final RequestDispatcher dispatcher;
    private final GatewayMetrics metrics;
    private final GatewayServer gateway;

    private AllInOneServer(ClusterMember member, WorkerRegistry registry, WorkerDirectory directory, LlamaEngine engine,
                           WorkerPresence presence, Vertx vertx, RequestDispatcher dispatcher,
                           GatewayMetrics metrics, GatewayServer gateway) {
        this.member = member;
        this.registry = registry;
        this.directory = directory;
        this.engine = engine;
        this.presence = presence;
        this.vertx = vertx;
        this.dispatcher = dispatcher;
        this.metrics = metrics;
        this.gateway = gateway;
    }

    public static AllInOneServer start(Options options) throws Exception {
        return start(options, System::nanoTime);
    }

    /**
     * Starts a server whose rate limits read time from {@code nanoClock} (as {@link System#nanoTime}), so
     * that a test can move it.
     */
    public static AllInOneServer start(Options options, java.util.function.LongSupplier nanoClock) throws Exception {
        // Load the model first: a bad checkpoint should fail before anything listens.
        ServedModel model = ServedModel.load(options.modelDir(), options.modelName());
        LlamaEngine engine = new LlamaEngine(model, options.engine());
        ClusterMember member = null;
        Vertx vertx = null;
        GatewayServer gateway = null;
        try {
            vertx = Vertx.vertx();
            GatewayMetrics metrics = new GatewayMetrics();
            metrics.bindEngine(engine);
            AdmissionController admission = new AdmissionController(options.keys(), options.limits(), nanoClock);
            metrics.bindAdmission(admission);
            RequestDispatcher dispatcher = new RequestDispatcher(vertx, new ModelCatalog().add(engine), admission,
                    metrics, new AccessLog(options.logContent()));
            ClusterStatus[] status = new ClusterStatus[1];
            gateway = GatewayServer.start(vertx, dispatcher, metrics, options.host(), options.grpcPort(),
                    options.httpPort(), () -> status[0] == null ? null : status[0].json(), options.console());
            // The embedded member binds loopback only and joins nobody: no port beyond the public two
            // is reachable from the network.
            member = ClusterMember.start(ClusterSettings.standalone(options.clusterName()), Map.of(
                    ClusterStatus.GRPC_ATTRIBUTE, options.host() + ":" + gateway.grpcPort(),
                    ClusterStatus.HTTP_ATTRIBUTE, options.host() + ":" + gateway.httpPort()));
            if (options.ledger().enabled()) {
                dispatcher.useLedger(new GatewayLedger(vertx, member, options.ledger().resultTtl(),
                        LedgerSettings.VERDICT_TIMEOUT));
            }
            WorkerRegistry registry = new WorkerRegistry(member);
            WorkerDirectory directory = new WorkerDirectory(member, registry, ClusterGateway.STALE_AFTER);
            status[0] = new ClusterStatus(member, directory);
            WorkerPresence presence = new WorkerPresence(registry, member.memberId(), "in-process", "", engine);
            LOG.info("Quire is serving model '{}': gRPC on {}:{}, HTTP on {}:{}{}", model.name(), options.host(),
                    gateway.grpcPort(), options.host(), gateway.httpPort(),
                    options.keys().required() ? " (API keys required)" : "");
            if (!options.keys().required() && !ClusterGateway.isLoopback(options.host())) {
                LOG.warn("No API key is set and the API listens on {}: it is open to the network", options.host());
            }
            return new AllInOneServer(member, registry, directory, engine, presence, vertx, dispatcher, metrics,
                    gateway);
        } catch (Exception | Error e) {
            engine.close();
            if (gateway != null) {
                gateway.close();
            }
            if (vertx != null) {
                vertx.close();
            }
            if (member != null) {
                member.close();
            }
            throw e;
        }
    }

    public int grpcPort() {
        return gateway.grpcPort();
    }

    public int httpPort() {
        return gateway.httpPort();
    }

    public LlamaEngine engine() {
        return engine;
    }

    public GatewayMetrics metrics() {
        return metrics;
    }

    public RequestDispatcher dispatcher() {
        return dispatcher;
    }

    /**
     * Graceful shutdown: readiness goes false and new requests are refused at once, requests in
     * flight may finish for up to {@code timeout}, then everything stops (what is still running is
     * aborted).
     */
    public void drainAndClose(Duration timeout) throws Exception {
        presence.startDraining();
        dispatcher.drain(timeout);
        close();
    }

    /**
     * Stops in the order that leaves nothing half done: refuse new requests; stop the engine, which
     * aborts what still runs and hands each stream its final chunk; close the ports once those chunks
     * are written; leave the cluster; and only then free the engine's native memory (KV cache, weights,
     * tokenizer), when no engine step, relay or text job can touch it any more.
     */
    @Override
    public void close() throws Exception {
        dispatcher.admission().startDraining();
        // A stopped engine is not a failed one: the worker's record says draining, not not-ready.
        presence.startDraining();
        engine.stop();
        FinalChunks.awaitWritten(vertx, dispatcher, ClusterGateway.FINAL_CHUNKS_BOUND);
        gateway.close();
        presence.close();
        directory.close();
        registry.close();
        if (dispatcher.ledger() != null) {
            dispatcher.ledger().close();
        }
        vertx.close().await(10, TimeUnit.SECONDS);
        member.close();
        engine.close();
    }
}
