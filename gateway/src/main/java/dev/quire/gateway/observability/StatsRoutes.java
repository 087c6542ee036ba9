package dev.quire.gateway.observability;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.gateway.openai.OpenAiErrors;
import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.engine.InferenceEngine;
import io.vertx.ext.web.Router;

import java.util.List;
import java.util.function.Supplier;

/**
 * {@code GET /stats}: this gateway's traffic as compact JSON (what the console charts), with the
 * load of the engines it routes to. Like {@code GET /cluster} it needs an API key when keys are set;
 * {@code /metrics} stays open for scrapers.
 */
public final class StatsRoutes {
    private StatsRoutes() {
    }

    public static void mount(Router router, TrafficStats traffic, AdmissionController admission,
                             Supplier<List<InferenceEngine>> engines) {
        router.get("/stats").handler(ctx -> {
            try {
                admission.authenticate(ApiKeys.bearer(ctx.request().getHeader("authorization")));
            } catch (GatewayException e) {
                OpenAiErrors.send(ctx.response(), e);
                return;
            }
            ctx.response().putHeader("content-type", "application/json")
                    .putHeader("cache-control", "no-store")
                    .putHeader("x-content-type-options", "nosniff")
                    .end(json(traffic, admission, engines.get()).toString());
        });
    }

    /**
     * {@link TrafficStats#json()} plus {@code now}: requests admitted by this gateway and not
     * finished ({@code in_flight}), of those not yet scheduled ({@code queued}), and per model the
     * engine's running and waiting sequences and KV blocks (in a cluster gateway: the sums over the
     * model's workers as their records say, plus this gateway's queue).
     */
    static ObjectNode json(TrafficStats traffic, AdmissionController admission, List<InferenceEngine> engines) {
        ObjectNode out = traffic.json();
        ObjectNode now = out.putObject("now");
        now.put("in_flight", admission.inFlight()).put("queued", admission.queued());
        int running = 0;
        int waiting = 0;
        ObjectNode models = now.putObject("models");
        for (InferenceEngine engine : engines) {
            SchedulerStats s = engine.stats();
            running += s.running();
            waiting += s.waiting();
            models.putObject(engine.model().name()).put("running", s.running()).put("waiting", s.waiting())
                    .put("kv_blocks_used", s.kvBlocksUsed()).put("kv_blocks_total", s.kvBlocksTotal());
        }
        now.put("running", running).put("waiting", waiting);
        return out;
    }
}
