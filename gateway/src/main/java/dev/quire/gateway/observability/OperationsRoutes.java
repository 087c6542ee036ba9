package dev.quire.gateway.observability;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.gateway.openai.OpenAiErrors;
import dev.quire.scheduler.engine.InferenceEngine;
import io.vertx.ext.web.Router;

import java.util.List;
import java.util.function.Supplier;

/**
 * {@code GET /health} (the process is alive), {@code GET /ready} (the gateway is not draining and
 * some model's engine can run requests: see {@link #notReady}) and {@code GET /metrics}
 * (Prometheus), none of which needs an API key; and {@code GET /cluster}, the cluster's live view,
 * which does when keys are set.
 */
public final class OperationsRoutes {
    private OperationsRoutes() {
    }

    /**
     * Why the gateway takes no requests now, or null when it does: {@code draining} (shutting down),
     * {@code loading} (no model is served yet: no worker has joined), or {@code unavailable} (no
     * served model's engine can run requests: the engine thread of {@code serve} died or stalled, or
     * no worker serving a model is ready). {@code /ready} and the gRPC health service both say this.
     *
     * @param engines the engines of the models served ({@link InferenceEngine#alive()} says which can run requests)
     */
    public static String notReady(AdmissionController admission, List<InferenceEngine> engines) {
        if (admission.draining()) {
            return "draining";
        }
        if (engines.isEmpty()) {
            return "loading";
        }
        for (InferenceEngine engine : engines) {
            if (engine.alive()) {
                return null;
            }
        }
        return "unavailable";
    }

    public static void mount(Router router, GatewayMetrics metrics, AdmissionController admission,
                             Supplier<List<InferenceEngine>> engines, Supplier<JsonNode> cluster) {
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
            String notReady = notReady(admission, engines.get());
            ctx.response().setStatusCode(notReady == null ? 200 : 503).putHeader("content-type", "application/json")
                    .end("{\"status\":\"" + (notReady == null ? "ready" : notReady) + "\"}");
        });
        router.get("/metrics").handler(ctx -> ctx.response()
                .putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
                .end(metrics.scrape()));
    }
}
