package dev.quire.gateway.observability;

import dev.quire.gateway.admission.AdmissionController;
import io.vertx.ext.web.Router;

import java.util.function.BooleanSupplier;

/**
 * {@code GET /health} (the process is alive), {@code GET /ready} (a model is loaded and the
 * gateway is not draining) and {@code GET /metrics} (Prometheus). None needs an API key.
 */
public final class OperationsRoutes {
    private OperationsRoutes() {
    }

    public static void mount(Router router, GatewayMetrics metrics, AdmissionController admission,
                             BooleanSupplier modelsLoaded) {
        router.get("/health").handler(ctx -> ctx.response()
                .putHeader("content-type", "application/json").end("{\"status\":\"ok\"}"));
        router.get("/ready").handler(ctx -> {
            boolean ready = modelsLoaded.getAsBoolean() && !admission.draining();
            ctx.response().setStatusCode(ready ? 200 : 503).putHeader("content-type", "application/json")
                    .end(ready ? "{\"status\":\"ready\"}"
                            : "{\"status\":\"" + (admission.draining() ? "draining" : "loading") + "\"}");
        });
        router.get("/metrics").handler(ctx -> ctx.response()
                .putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
                .end(metrics.scrape()));
    }
}
