package dev.quire.worker.service;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;

import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A worker's operations port: {@code GET /metrics} (Prometheus), {@code /health} (the process
 * runs) and {@code /ready} (it takes new requests). Nothing else: a worker never serves the API.
 */
public final class OperationsEndpoint implements AutoCloseable {
    private final HttpServer server;

    private OperationsEndpoint(HttpServer server) {
        this.server = server;
    }

    public static OperationsEndpoint start(Vertx vertx, String host, int port, PrometheusMeterRegistry registry,
                                           BooleanSupplier ready) throws Exception {
        HttpServer server = vertx.createHttpServer()
                .requestHandler(req -> handle(req, registry, ready))
                .listen(port, host)
                .await(30, TimeUnit.SECONDS);
        return new OperationsEndpoint(server);
    }

    private static void handle(HttpServerRequest req, PrometheusMeterRegistry registry, BooleanSupplier ready) {
        if (req.method() != HttpMethod.GET) {
            req.response().setStatusCode(405).putHeader("allow", "GET").end();
            return;
        }
        switch (req.path()) {
            case "/metrics" -> req.response().putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
                    .end(registry.scrape());
            case "/health" -> req.response().putHeader("content-type", "application/json").end("{\"status\":\"ok\"}");
            case "/ready" -> {
                boolean r = ready.getAsBoolean();
                req.response().setStatusCode(r ? 200 : 503).putHeader("content-type", "application/json")
                        .end(r ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}");
            }
            default -> req.response().setStatusCode(404).end();
        }
    }

    public int port() {
        return server.actualPort();
    }

    @Override
    public void close() throws Exception {
        server.close().await(10, TimeUnit.SECONDS);
    }
}
