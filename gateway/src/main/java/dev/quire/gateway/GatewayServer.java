package dev.quire.gateway;

import dev.quire.gateway.api.InferenceApi;
import dev.quire.gateway.console.ConsoleRoutes;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.observability.OperationsRoutes;
import dev.quire.gateway.observability.StatsRoutes;
import dev.quire.gateway.openai.OpenAiRoutes;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.proto.v1.InferenceGrpcService;
import dev.quire.gateway.admission.ConnectionLimits;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.Router;
import dev.quire.gateway.observability.GrpcHealth;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.reflection.ReflectionService;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The gateway's network endpoints: gRPC ({@code quire.v1.Inference}, {@code grpc.health.v1.Health},
 * server reflection) on one port, HTTP (the OpenAI-compatible API, health, readiness, metrics, the
 * cluster view, traffic stats and the web console) on another.
 */
public final class GatewayServer implements AutoCloseable {
    private static final String INFERENCE_SERVICE = InferenceGrpcService.SERVICE_NAME.fullyQualifiedName();
    private static final String INFERENCE_PATH = "/" + INFERENCE_SERVICE + "/";
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
     * Starts listening, with the web console, and waits until both ports are bound.
     *
     * @param cluster the live view {@code GET /cluster} returns
     */
    public static GatewayServer start(Vertx vertx, RequestDispatcher dispatcher, GatewayMetrics metrics, String host,
                                      int grpcPort, int httpPort,
                                      java.util.function.Supplier<com.fasterxml.jackson.databind.JsonNode> cluster)
            throws Exception {
        return start(vertx, dispatcher, metrics, host, grpcPort, httpPort, cluster, true);
    }

    /**
     * Starts listening and waits until both ports are bound.
     *
     * @param cluster the live view {@code GET /cluster} returns
     * @param console whether the HTTP port serves the web console at {@code /}
     */
    public static GatewayServer start(Vertx vertx, RequestDispatcher dispatcher, GatewayMetrics metrics, String host,
                                      int grpcPort, int httpPort,
                                      java.util.function.Supplier<com.fasterxml.jackson.databind.JsonNode> cluster,
                                      boolean console)
            throws Exception {
        int maxMessage = dispatcher.admission().limits().maxRequestBytes();
        ConnectionLimits limits = dispatcher.admission().limits().connections();
        Handler<HttpConnection> connections = connectionCounter(limits.maxConnections());
        GrpcServer grpc = GrpcServer.server(vertx, new GrpcServerOptions().setMaxMessageSize(maxMessage));
        grpc.addService(new InferenceApi(vertx, dispatcher));
        // SERVING exactly when /ready says ready: not draining, and some model's engine can run requests.
        grpc.addService(new GrpcHealth(vertx, List.of(InferenceGrpcService.SERVICE_NAME.fullyQualifiedName()),
                () -> OperationsRoutes.notReady(dispatcher.admission(), dispatcher.catalog().all()) == null));
        grpc.addService(ReflectionService.v1());
        // HTTP/2 allows 100 concurrent streams per connection by default; one client channel
        // carrying many token streams is normal for a gateway, so the bound is an option. A client's
        // calls beyond it wait in the client (grpc-java queues them) until one of its streams ends.
        HttpServerOptions grpcOptions = withIdleTimeout(new HttpServerOptions().setHost(host).setPort(grpcPort),
                limits.idleTimeout());
        grpcOptions.setInitialSettings(grpcOptions.getInitialSettings()
                .setMaxConcurrentStreams(limits.maxStreamsPerConnection()));
        HttpServer grpcHttp = vertx.createHttpServer(grpcOptions)
                .connectionHandler(connections)
                .requestHandler(request -> {
                    if (!compressionAllowed(request)) {
                        refuseCompression(request);
                    } else {
                        grpc.handle(request);
                    }
                })
                .listen()
                .await(30, TimeUnit.SECONDS);

        Router router = Router.router(vertx);
        OperationsRoutes.mount(router, metrics, dispatcher.admission(), () -> dispatcher.catalog().all(), cluster);
        OpenAiRoutes.mount(router, vertx, dispatcher);
        StatsRoutes.mount(router, metrics.traffic(), dispatcher.admission(), () -> dispatcher.catalog().all());
        if (console) {
            ConsoleRoutes.mount(router, dispatcher.admission());
        }
        HttpServer http;
        try {
            // HTTP/1.1 only: the h2c upgrade path stalled large responses (a /metrics scrape over
            // 64 KiB) for the JDK's HttpClient, and OpenAI clients speak HTTP/1.1 anyway.
            http = vertx.createHttpServer(withIdleTimeout(new HttpServerOptions().setHost(host).setPort(httpPort)
                            .setMaxInitialLineLength(16 * 1024).setHttp2ClearTextEnabled(false), limits.idleTimeout()))
                    .connectionHandler(connections)
                    .requestHandler(router)
                    .listen()
                    .await(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            grpcHttp.close();
            throw e;
        }
        return new GatewayServer(grpcHttp, http);
    }

    private static HttpServerOptions withIdleTimeout(HttpServerOptions options, Duration idleTimeout) {
        if (idleTimeout.isZero()) {
            return options;
        }
        return options.setIdleTimeout((int) Math.min(Integer.MAX_VALUE, Math.max(1, idleTimeout.toMillis())))
                .setIdleTimeoutUnit(TimeUnit.MILLISECONDS);
    }

    /**
     * Counts the open connections of both ports and closes each new one beyond {@code max} at once
     * (it never reaches a request handler).
     */
    private static Handler<HttpConnection> connectionCounter(int max) {
        AtomicInteger open = new AtomicInteger();
        return connection -> {
            if (open.incrementAndGet() > max) {
                open.decrementAndGet();
                connection.close();
                return;
            }
            connection.closeHandler(v -> open.decrementAndGet());
        };
    }

    /**
     * Only {@code quire.v1.Inference} inflates compressed messages, and within --max-request-bytes
     * ({@link InferenceApi}); Vert.x's own decoding (health, reflection) would inflate without
     * limit, so compressed calls to those are refused. Their requests are a few bytes anyway.
     */
    private static boolean compressionAllowed(HttpServerRequest request) {
        String encoding = request.getHeader("grpc-encoding");
        return encoding == null || encoding.equalsIgnoreCase("identity") || request.path().startsWith(INFERENCE_PATH);
    }

    /** A trailers-only gRPC response: UNIMPLEMENTED, the status gRPC gives a compression the server does not take. */
    private static void refuseCompression(HttpServerRequest request) {
        request.response()
                .putHeader("content-type", "application/grpc")
                .putHeader("grpc-accept-encoding", "identity")
                .putHeader("grpc-status", Integer.toString(GrpcStatus.UNIMPLEMENTED.code))
                .putHeader("grpc-message", "compressed messages are accepted by " + INFERENCE_SERVICE + " only")
                .end();
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
