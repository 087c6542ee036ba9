package dev.quire.gateway;

import dev.quire.gateway.api.InferenceApi;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.observability.OperationsRoutes;
import dev.quire.gateway.openai.OpenAiRoutes;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.proto.v1.InferenceGrpcService;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.ext.web.Router;
import dev.quire.gateway.observability.GrpcHealth;
import io.vertx.grpc.reflection.ReflectionService;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The gateway's network endpoints: gRPC ({@code quire.v1.Inference}, {@code grpc.health.v1.Health},
 * server reflection) on one port, HTTP (the OpenAI-compatible API, health, readiness, metrics) on
 * another.
 */
public final class GatewayServer implements AutoCloseable {
    static final int MAX_STREAMS_PER_CONNECTION = 10_000;
    private final HttpServer grpcServer;
    private final HttpServer httpServer;

    private GatewayServer(HttpServer grpcServer, HttpServer httpServer) {
        this.grpcServer = grpcServer;
        this.httpServer = httpServer;
    }

    /** Starts listening and waits until both ports are bound. */
    public static GatewayServer start(Vertx vertx, RequestDispatcher dispatcher, GatewayMetrics metrics, String host,
                                      int grpcPort, int httpPort) throws Exception {
        return start(vertx, dispatcher, metrics, host, grpcPort, httpPort,
                () -> com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode()
                        .set("workers", com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.arrayNode()));
    }

    /**
     * Starts listening and waits until both ports are bound.
     *
     * @param cluster the live view {@code GET /cluster} returns
     */
    public static GatewayServer start(Vertx vertx, RequestDispatcher dispatcher, GatewayMetrics metrics, String host,
                                      int grpcPort, int httpPort,
                                      java.util.function.Supplier<com.fasterxml.jackson.databind.JsonNode> cluster)
            throws Exception {
        int maxMessage = dispatcher.admission().limits().maxRequestBytes();
        GrpcServer grpc = GrpcServer.server(vertx, new GrpcServerOptions().setMaxMessageSize(maxMessage));
        grpc.addService(new InferenceApi(vertx, dispatcher));
        // Serving while the gateway admits requests; NOT_SERVING once it drains.
        grpc.addService(new GrpcHealth(vertx, List.of(InferenceGrpcService.SERVICE_NAME.fullyQualifiedName()),
                () -> !dispatcher.admission().draining()));
        grpc.addService(ReflectionService.v1());
        // HTTP/2 allows 100 concurrent streams per connection by default; one client channel
        // carrying thousands of token streams is normal for a gateway.
        HttpServerOptions grpcOptions = new HttpServerOptions().setHost(host).setPort(grpcPort);
        grpcOptions.setInitialSettings(grpcOptions.getInitialSettings().setMaxConcurrentStreams(MAX_STREAMS_PER_CONNECTION));
        HttpServer grpcHttp = vertx.createHttpServer(grpcOptions)
                .requestHandler(grpc)
                .listen()
                .await(30, TimeUnit.SECONDS);

        Router router = Router.router(vertx);
        OperationsRoutes.mount(router, metrics, dispatcher.admission(), () -> !dispatcher.catalog().all().isEmpty(),
                cluster);
        OpenAiRoutes.mount(router, vertx, dispatcher);
        HttpServer http;
        try {
            // HTTP/1.1 only: the h2c upgrade path stalled large responses (a /metrics scrape over
            // 64 KiB) for the JDK's HttpClient, and OpenAI clients speak HTTP/1.1 anyway.
            http = vertx.createHttpServer(new HttpServerOptions().setHost(host).setPort(httpPort)
                            .setMaxInitialLineLength(16 * 1024).setHttp2ClearTextEnabled(false))
                    .requestHandler(router)
                    .listen()
                    .await(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            grpcHttp.close();
            throw e;
        }
        return new GatewayServer(grpcHttp, http);
    }

    /** The bound gRPC port (useful when started on port 0). */
    public int grpcPort() {
        return grpcServer.actualPort();
    }

    /** The bound HTTP port. */
    public int httpPort() {
        return httpServer.actualPort();
    }

    @Override
    public void close() throws Exception {
        grpcServer.close().await(10, TimeUnit.SECONDS);
        httpServer.close().await(10, TimeUnit.SECONDS);
    }
}
