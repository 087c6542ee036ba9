package dev.quire.gateway;

import dev.quire.gateway.api.InferenceApi;
import dev.quire.gateway.routing.ModelCatalog;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;

import java.util.concurrent.TimeUnit;

/** The gateway's network endpoints on one Vert.x instance. */
public final class GatewayServer implements AutoCloseable {
    private final HttpServer grpcServer;

    private GatewayServer(HttpServer grpcServer) {
        this.grpcServer = grpcServer;
    }

    /** Starts listening and waits until the ports are bound. */
    public static GatewayServer start(Vertx vertx, ModelCatalog catalog, String host, int grpcPort) throws Exception {
        GrpcServer grpc = GrpcServer.server(vertx, new GrpcServerOptions().setScheduleDeadlineAutomatically(true));
        new InferenceApi(vertx, catalog).bindTo(grpc);
        HttpServer server = vertx.createHttpServer(new HttpServerOptions().setHost(host).setPort(grpcPort))
                .requestHandler(grpc)
                .listen()
                .await(30, TimeUnit.SECONDS);
        return new GatewayServer(server);
    }

    /** The bound gRPC port (useful when started on port 0). */
    public int grpcPort() {
        return grpcServer.actualPort();
    }

    @Override
    public void close() throws Exception {
        grpcServer.close().await(10, TimeUnit.SECONDS);
    }
}
