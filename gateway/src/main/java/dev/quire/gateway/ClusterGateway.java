package dev.quire.gateway;

import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.cluster.ClusterEngine;
import dev.quire.gateway.cluster.ClusterStatus;
import dev.quire.gateway.cluster.WorkerPool;
import dev.quire.gateway.ledger.GatewayLedger;
import dev.quire.gateway.ledger.LedgerSettings;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.scheduler.cluster.ClusterMember;
import dev.quire.scheduler.cluster.ClusterSecret;
import dev.quire.scheduler.cluster.ClusterSettings;
import dev.quire.scheduler.cluster.WorkerDirectory;
import dev.quire.scheduler.cluster.WorkerRegistry;
import dev.quire.scheduler.placement.PlacementPolicy;
import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code quire gateway}: the public API (gRPC and OpenAI HTTP) in front of the cluster's workers.
 * A full Hazelcast member that sees the workers through the registry and places each request on
 * one of them over the data plane. It loads no model and carries no DJL.
 */
public final class ClusterGateway implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterGateway.class);
    /** A worker record older than this is not offered for placement (workers refresh every 250 ms). */
    public static final Duration STALE_AFTER = Duration.ofSeconds(3);

    /**
     * @param host             interface of the public ports
     * @param grpcPort         public gRPC port; 0 picks a free one
     * @param httpPort         public HTTP port; 0 picks a free one
     * @param keys             accepted API keys
     * @param limits           admission bounds
     * @param logContent       whether the access log may hold prompt and output text
     * @param cluster          how to join the cluster
     * @param secret           the cluster secret
     * @param placement        placement policy name
     * @param balanceThreshold cache-aware placement's load threshold
     * @param workerQueueLimit requests waiting on one worker beyond which new ones wait here
     * @param ledger           how the request ledger is used
     * @param console          whether the HTTP port serves the web console
     */
    public record Options(String host, int grpcPort, int httpPort, ApiKeys keys, AdmissionLimits limits,
                          boolean logContent, ClusterSettings cluster, ClusterSecret secret, String placement,
                          double balanceThreshold, int workerQueueLimit, LedgerSettings ledger, boolean console) {

        /** With the web console. */
        public Options(String host, int grpcPort, int httpPort, ApiKeys keys, AdmissionLimits limits,
                       boolean logContent, ClusterSettings cluster, ClusterSecret secret, String placement,
                       double balanceThreshold, int workerQueueLimit, LedgerSettings ledger) {
            this(host, grpcPort, httpPort, keys, limits, logContent, cluster, secret, placement, balanceThreshold,
                    workerQueueLimit, ledger, true);
        }
    }

    /** How long a shutdown waits for the streams' final chunks to be written before closing the ports. */
    public static final Duration FINAL_CHUNKS_BOUND = Duration.ofSeconds(2);

    private final Vertx vertx;
    private final GatewayServer server;
    private final RequestDispatcher dispatcher;
    private final ClusterMember member;
    private final WorkerRegistry registry;
    private final WorkerDirectory directory;
    private final WorkerPool pool;
    private final ModelCatalog catalog;

    private ClusterGateway(Vertx vertx, GatewayServer server, RequestDispatcher dispatcher, ClusterMember member,
                           WorkerRegistry registry, WorkerDirectory directory, WorkerPool pool, ModelCatalog catalog) {
        this.vertx = vertx;
        this.server = server;
        this.dispatcher = dispatcher;
        this.member = member;
        this.registry = registry;
        this.directory = directory;
        this.pool = pool;
        this.catalog = catalog;
    }

    public static ClusterGateway start(Options options) throws Exception {
        PlacementPolicy policy = PlacementPolicy.named(options.placement(), options.balanceThreshold());
        Vertx vertx = Vertx.vertx();
        ClusterMember member = null;
        GatewayServer server = null;
        try {
            GatewayMetrics metrics = new GatewayMetrics();
            AdmissionController admission = new AdmissionController(options.keys(), options.limits());
            metrics.bindAdmission(admission);
            ModelCatalog catalog = new ModelCatalog();
            RequestDispatcher dispatcher = new RequestDispatcher(vertx, catalog, admission, metrics,
                    new AccessLog(options.logContent()));
            ClusterStatus[] status = new ClusterStatus[1];
            server = GatewayServer.start(vertx, dispatcher, metrics, options.host(), options.grpcPort(),
                    options.httpPort(), () -> status[0] == null ? null : status[0].json(), options.console());
            String host = options.host().equals("0.0.0.0") ? options.cluster().host() : options.host();
            member = ClusterMember.start(options.cluster(), Map.of(
                    ClusterStatus.GRPC_ATTRIBUTE, host + ":" + server.grpcPort(),
                    ClusterStatus.HTTP_ATTRIBUTE, host + ":" + server.httpPort()));
            if (options.ledger().enabled()) {
                // Set before any model is served: until then every request is refused anyway.
                dispatcher.useLedger(new GatewayLedger(vertx, member, options.ledger().resultTtl(),
                        LedgerSettings.VERDICT_TIMEOUT));
            }
            WorkerRegistry registry = new WorkerRegistry(member);
            WorkerDirectory directory = new WorkerDirectory(member, registry, STALE_AFTER);
            status[0] = new ClusterStatus(member, directory);
            WorkerPool pool = new WorkerPool(vertx, directory, options.secret());
            pool.onModel((info, worker) -> {
                ClusterEngine engine = new ClusterEngine(info, pool, policy, options.workerQueueLimit(),
                        metrics.placementObserver(), options.limits().queueTimeout());
                try {
                    catalog.add(engine);
                    metrics.bindEngine(engine);
                    LOG.info("Serving model '{}'", info.name());
                } catch (IllegalArgumentException e) {
                    engine.close(); // a second gateway thread described it first
                }
            });
            LOG.info("Gateway listening: gRPC on {}:{}, HTTP on {}:{}{}; member {} of cluster '{}' ({} members), "
                            + "placement {}", options.host(), server.grpcPort(), options.host(), server.httpPort(),
                    options.keys().required() ? " (API keys required)" : "", member.address(),
                    options.cluster().clusterName(), member.hazelcast().getCluster().getMembers().size(),
                    options.placement());
            if (!options.keys().required() && !isLoopback(options.host())) {
                LOG.warn("No API key is set and the API listens on {}: it is open to the network", options.host());
            }
            return new ClusterGateway(vertx, server, dispatcher, member, registry, directory, pool, catalog);
        } catch (Exception | Error e) {
            if (server != null) {
                server.close();
            }
            if (member != null) {
                member.close();
            }
            vertx.close();
            throw e;
        }
    }

    /** Whether {@code host}, a bind address, reaches this machine only (what needs no API key). */
    public static boolean isLoopback(String host) {
        return host.equals("localhost") || host.startsWith("127.") || host.equals("::1");
    }

    public int grpcPort() {
        return server.grpcPort();
    }

    public int httpPort() {
        return server.httpPort();
    }

    public RequestDispatcher dispatcher() {
        return dispatcher;
    }

    /** Graceful shutdown: refuse new requests, let running ones finish for up to {@code timeout}, then stop. */
    public void drainAndClose(Duration timeout) throws Exception {
        dispatcher.drain(timeout);
        close();
    }

    @Override
    public void close() throws Exception {
        dispatcher.admission().startDraining();
        List.copyOf(catalog.all()).forEach(e -> e.close());
        FinalChunks.awaitWritten(vertx, dispatcher, FINAL_CHUNKS_BOUND);
        server.close();
        pool.close();
        directory.close();
        registry.close();
        if (dispatcher.ledger() != null) {
            dispatcher.ledger().close();
        }
        vertx.close().await(10, TimeUnit.SECONDS);
        member.close();
    }
}
