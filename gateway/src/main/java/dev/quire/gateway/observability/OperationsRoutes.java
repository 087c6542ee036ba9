package dev.quire.gateway.observability;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.gateway.openai.OpenAiErrors;
import io.vertx.ext.web.Router;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * {@code GET /health} (the process is alive), {@code GET /ready} (a model is loaded and the
 * gateway is not draining) and {@code GET /metrics} (Prometheus), none of which needs an API key;
 * and {@code GET /cluster}, the cluster's live view, which does when keys are set.
 */
public final class OperationsRoutes {
    private OperationsRoutes() {
    }

    public static void mount(Router router, GatewayMetrics metrics, AdmissionController admission,
                             BooleanSupplier modelsLoaded, Supplier<JsonNode> cluster) {
        router.get("/cluster").handler(ctx -> {
            try {
                admission.authenticate(ApiKeys.bearer(ctx.request().getHeader("authorization")));
            } catch (GatewayException e) {
                OpenAiErrors.send(ctx.response(), e);
                return;
            }
            JsonNode view = cluster.get();
            if (view == null) {
                OpenAiErrors.send(ctx.response(), new GatewayException(dev.quire.gateway.admission.ErrorKind.UNAVAILABLE,
                        null, "the gateway is still joining its cluster; retry shortly"));
                return;
            }
            ctx.response().putHeader("content-type", "application/json").end(view.toString());
        });
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
