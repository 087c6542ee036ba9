package dev.quire.server;

import dev.quire.scheduler.cluster.ClusterMember;
import dev.quire.scheduler.cluster.ClusterSecret;
import dev.quire.scheduler.cluster.ClusterSettings;
import dev.quire.scheduler.cluster.WorkerRegistry;
import dev.quire.scheduler.cluster.WorkerState;
import dev.quire.scheduler.metrics.EngineMeters;
import dev.quire.worker.engine.EngineConfig;
import dev.quire.worker.engine.LlamaEngine;
import dev.quire.worker.engine.SimulatedEngine;
import dev.quire.worker.engine.WorkerEngine;
import dev.quire.worker.model.ServedModel;
import dev.quire.worker.service.OperationsEndpoint;
import dev.quire.worker.service.WorkerPresence;
import dev.quire.worker.service.WorkerService;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.grpc.server.GrpcServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * {@code quire worker}: one engine behind the internal data plane, a lite member of the cluster
 * that publishes its load and prefix cache for placement. It serves no public API.
 */
public final class WorkerProcess implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WorkerProcess.class);

    /**
     * @param modelDir    Hugging Face checkpoint folder
     * @param modelName   name clients use; null names it after the folder
     * @param engine      engine settings
     * @param port        data-plane port; 0 picks a free one
     * @param metricsPort operations port (/metrics, /health, /ready); 0 picks a free one
     * @param cluster     how to join the cluster; its interface is also where the data plane listens
     * @param secret      the cluster secret
     * @param simulatedStepTime null to run the model; else, for cluster benchmarks, a stand-in engine
     *                    whose every step takes this long (see {@link SimulatedEngine})
     */
    public record Options(Path modelDir, String modelName, EngineConfig engine, int port, int metricsPort,
                          ClusterSettings cluster, ClusterSecret secret, Duration simulatedStepTime,
                          Duration orphanGrace) {
    }

    private final WorkerEngine engine;
    private final Vertx vertx;
    private final HttpServer dataPlane;
    private final OperationsEndpoint operations;
    private final WorkerService service;
    private final ClusterMember member;
    private final WorkerRegistry registry;
    private final WorkerPresence presence;
    private final String address;

    private WorkerProcess(WorkerEngine engine, Vertx vertx, HttpServer dataPlane, OperationsEndpoint operations,
                          WorkerService service, ClusterMember member, WorkerRegistry registry,
                          WorkerPresence presence, String address) {
        this.engine = engine;
        this.vertx = vertx;
        this.dataPlane = dataPlane;
        this.operations = operations;
        this.service = service;
        this.member = member;
        this.registry = registry;
        this.presence = presence;
        this.address = address;
        service.onDrainRequest(migrate -> {
            remoteDrainMigrates = migrate;
            Runnable action = onRemoteDrain;
            Thread t = new Thread(action, "quire-remote-drain");
            t.setDaemon(true);
            t.start();
        });
    }

    public static WorkerProcess start(Options options) throws Exception {
        ServedModel model = ServedModel.load(options.modelDir(), options.modelName());
        WorkerEngine engine;
        if (options.simulatedStepTime() == null) {
            engine = new LlamaEngine(model, options.engine());
        } else {
            EngineConfig c = options.engine();
            int maxLen = c.maxModelLen() > 0 ? c.maxModelLen() : model.config().maxPositionEmbeddings();
            engine = new SimulatedEngine(model.info(maxLen), model.tokenizer(), options.simulatedStepTime().toNanos(),
                    c.maxSeqs(), c.blockSize(), 65_536);
            LOG.warn("Simulated engine: every step takes {} ms and outputs are not the model's (benchmarks only)",
                    options.simulatedStepTime().toMillis());
        }
        Vertx vertx = Vertx.vertx();
        HttpServer dataPlane = null;
        OperationsEndpoint operations = null;
        ClusterMember member = null;
        try {
            String host = options.cluster().host();
            // The member id is the worker id; it is known once the member started, but the data plane
            // must listen first so that the record it publishes is usable at once.
            WorkerService service = new WorkerService(vertx, engine, options.secret(), null, null, options.orphanGrace());
            GrpcServer grpc = GrpcServer.server(vertx);
            grpc.addService(service);
            HttpServerOptions http = new HttpServerOptions().setHost(host).setPort(options.port());
            http.setInitialSettings(http.getInitialSettings().setMaxConcurrentStreams(16_384));
            dataPlane = vertx.createHttpServer(http).requestHandler(grpc).listen().await(30, TimeUnit.SECONDS);
            String address = host + ":" + dataPlane.actualPort();
            service.address(address);

            PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
            EngineMeters.bind(registry, engine);
            member = ClusterMember.start(options.cluster());
            service.workerId(member.memberId());
            WorkerRegistry workers = new WorkerRegistry(member);
            WorkerPresence[] presence = new WorkerPresence[1];
            operations = OperationsEndpoint.start(vertx, host, options.metricsPort(), registry,
                    () -> presence[0] != null && presence[0].state() == WorkerState.READY);
            String metricsAddress = host + ":" + operations.port();
            presence[0] = new WorkerPresence(workers, member.memberId(), address, metricsAddress, engine);
            LOG.info("Worker {} serving model '{}': data plane on {}, metrics on {}; member {} of cluster '{}' "
                            + "({} members)", member.memberId(), model.name(), address, metricsAddress, member.address(),
                    options.cluster().clusterName(), member.hazelcast().getCluster().getMembers().size());
            return new WorkerProcess(engine, vertx, dataPlane, operations, service, member, workers, presence[0],
                    address);
        } catch (Exception | Error e) {
            if (member != null) {
                member.close();
            }
            if (operations != null) {
                operations.close();
            }
            if (dataPlane != null) {
                dataPlane.close();
            }
            vertx.close();
            engine.close();
            throw e;
        }
    }

    /** The data-plane address gateways reach this worker at. */
    public String address() {
        return address;
    }

    public WorkerEngine engine() {
        return engine;
    }

    /**
     * Drain: placements stop at once (the record says draining and new generations are refused, so
     * gateways retry them elsewhere); generations in flight finish for up to {@code timeout}; then
     * the worker leaves the cluster and stops.
     */
    public void drainAndClose(Duration timeout) throws Exception {
        drainAndClose(timeout, false);
    }

    /** Whether a drain asked over the data plane said to migrate; null when none was asked. */
    private volatile Boolean remoteDrainMigrates;
    /** How this process stops when an operator drains it remotely (the command: exit, running its drain). */
    private volatile Runnable onRemoteDrain = () -> {
        try {
            drainAndClose(Duration.ofSeconds(30), Boolean.TRUE.equals(remoteDrainMigrates));
        } catch (Exception e) {
            LOG.error("Remote drain failed", e);
        }
    };

    /** Sets what a drain asked over the data plane ({@code quire cluster drain}) does. */
    public void onRemoteDrain(Runnable action) {
        this.onRemoteDrain = action;
    }

    /** The drain mode to use: the one a remote drain asked for, else {@code configured}. */
    public boolean drainMigrates(boolean configured) {
        Boolean asked = remoteDrainMigrates;
        return asked != null ? asked : configured;
    }

    /**
     * @param migrate hand the generations in flight to other workers at once (their gateways
     *                continue each from the tokens already delivered) instead of finishing them here
     */
    public void drainAndClose(Duration timeout, boolean migrate) throws Exception {
        presence.startDraining();
        service.startDraining();
        LOG.info("Draining: {} generations in flight{}", service.activeGenerations(),
                migrate ? ", migrating them to other workers" : "");
        if (migrate) {
            service.migrateAll();
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (service.activeGenerations() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        if (service.activeGenerations() > 0) {
            LOG.warn("Drain timeout reached; aborting {} generations still running", service.activeGenerations());
        }
        // Their last events are on their way to the gateways: let them go out before this worker leaves.
        long flushDeadline = Math.min(deadline, System.nanoTime()) + 2_000_000_000L;
        while (service.openStreams() > 0 && System.nanoTime() < flushDeadline) {
            Thread.sleep(10);
        }
        close();
    }

    @Override
    public void close() throws Exception {
        service.startDraining();
        presence.close();
        registry.close();
        // Aborts what still runs; the final events reach the gateways before the port closes.
        engine.stop();
        Thread.sleep(50);
        dataPlane.close().await(10, TimeUnit.SECONDS);
        operations.close();
        vertx.close().await(10, TimeUnit.SECONDS);
        member.close();
        // The native memory goes last, when no step, stream or tokenize call can touch it.
        engine.close();
        LOG.info("Worker stopped");
    }
}
