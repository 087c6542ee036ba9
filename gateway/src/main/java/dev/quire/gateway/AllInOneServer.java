package dev.quire.gateway;

import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.scheduler.cluster.ClusterMember;
import dev.quire.scheduler.cluster.ClusterSettings;
import dev.quire.scheduler.cluster.WorkerRegistry;
import dev.quire.worker.engine.EngineConfig;
import dev.quire.worker.engine.LlamaEngine;
import dev.quire.worker.model.ServedModel;
import dev.quire.worker.service.WorkerHeartbeat;
import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
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
     * @param engine      engine settings
     * @param clusterName Hazelcast cluster name
     */
    public record Options(Path modelDir, String modelName, String host, int grpcPort, EngineConfig engine,
                          String clusterName) {
    }

    private final ClusterMember member;
    private final WorkerRegistry registry;
    private final LlamaEngine engine;
    private final WorkerHeartbeat heartbeat;
    private final Vertx vertx;
    private final GatewayServer gateway;

    private AllInOneServer(ClusterMember member, WorkerRegistry registry, LlamaEngine engine,
                           WorkerHeartbeat heartbeat, Vertx vertx, GatewayServer gateway) {
        this.member = member;
        this.registry = registry;
        this.engine = engine;
        this.heartbeat = heartbeat;
        this.vertx = vertx;
        this.gateway = gateway;
    }

    public static AllInOneServer start(Options options) throws Exception {
        // Load the model first: a bad checkpoint should fail before anything listens.
        ServedModel model = ServedModel.load(options.modelDir(), options.modelName());
        LlamaEngine engine = new LlamaEngine(model, options.engine());
        ClusterMember member = null;
        Vertx vertx = null;
        try {
            member = ClusterMember.start(ClusterSettings.standalone(options.clusterName()));
            WorkerRegistry registry = new WorkerRegistry(member);
            WorkerHeartbeat heartbeat = new WorkerHeartbeat(registry, member.memberId(), "in-process", engine);
            vertx = Vertx.vertx();
            ModelCatalog catalog = new ModelCatalog().add(engine);
            GatewayServer gateway = GatewayServer.start(vertx, catalog, options.host(), options.grpcPort());
            LOG.info("Quire is serving model '{}' over gRPC on {}:{}", model.name(), options.host(),
                    gateway.grpcPort());
            return new AllInOneServer(member, registry, engine, heartbeat, vertx, gateway);
        } catch (Exception | Error e) {
            engine.close();
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

    public LlamaEngine engine() {
        return engine;
    }

    public WorkerRegistry registry() {
        return registry;
    }

    @Override
    public void close() throws Exception {
        gateway.close();
        heartbeat.close();
        engine.close();
        registry.close();
        vertx.close().await(10, TimeUnit.SECONDS);
        member.close();
    }
}
