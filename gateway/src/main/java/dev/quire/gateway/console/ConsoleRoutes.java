package dev.quire.gateway.console;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.gateway.openai.OpenAiDefaults;
import dev.quire.gateway.openai.OpenAiErrors;
import dev.quire.scheduler.engine.SamplingOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

/**
 * The web console: {@code GET /} (the page), {@code GET /console/VERSION/FILE} (its scripts, styles
 * and icon, from {@link ConsoleAssets}) and {@code GET /console/settings} (the sampling defaults and
 * limits the page shows). The page itself talks only to the public API ({@code /v1/...}) and to
 * {@code /cluster} and {@code /stats}.
 *
 * <p>The files are public and hold nothing about the server; everything the page shows comes from
 * endpoints that need an API key when keys are set ({@code /console/settings} included). Every
 * response of the console carries a strict Content-Security-Policy (scripts, styles and
 * connections from this origin only, no inline script or style, Trusted Types required so no
 * script can assign markup), {@code nosniff}, no-referrer and frame-denial headers, and sets no
 * cookie.
 */
public final class ConsoleRoutes {
    /** The page's policy: nothing but this origin, no inline code, no markup from strings, no framing. */
    public static final String CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; "
            + "img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            + "form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String IMMUTABLE = "public, max-age=31536000, immutable";

    private final ConsoleAssets assets;
    private final AdmissionController admission;

    private ConsoleRoutes(ConsoleAssets assets, AdmissionController admission) {
        this.assets = assets;
        this.admission = admission;
    }

    /** Mounts the console on {@code router}; reads its files now, so a broken jar fails at start-up. */
    public static void mount(Router router, AdmissionController admission) {
        new ConsoleRoutes(ConsoleAssets.load(), admission).mountOn(router);
    }

    private void mountOn(Router router) {
        // GET and HEAD (uptime checks); Vert.x sends no body for HEAD.
        router.route("/").method(HttpMethod.GET).method(HttpMethod.HEAD)
                .handler(ctx -> send(ctx, assets.index(), "no-cache"));
        // Registered before the files' route, which would otherwise take "settings" for a version.
        router.get("/console/settings").handler(this::settings);
        router.routeWithRegex("/console/(?<version>[0-9a-f]{12})/(?<file>[A-Za-z0-9_-]+\\.[a-z]+)")
                .method(HttpMethod.GET).method(HttpMethod.HEAD).handler(ctx -> {
            ConsoleAssets.Asset asset = assets.asset(ctx.pathParam("file"));
            if (asset == null) {
                notFound(ctx);
                return;
            }
            // A page loaded before an upgrade may ask for the old version: it gets today's file,
            // revalidated rather than cached for good under the old name.
            send(ctx, asset, assets.version().equals(ctx.pathParam("version")) ? IMMUTABLE : "no-cache");
        });
        router.route("/console/*").handler(ConsoleRoutes::notFound);
    }

    /** The headers every console response carries. */
    static HttpServerResponse secure(HttpServerResponse response) {
        return response.putHeader("content-security-policy", CONTENT_SECURITY_POLICY)
                .putHeader("x-content-type-options", "nosniff")
                .putHeader("referrer-policy", "no-referrer")
                .putHeader("x-frame-options", "DENY")
                .putHeader("cross-origin-opener-policy", "same-origin")
                .putHeader("cross-origin-resource-policy", "same-origin")
                .putHeader("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()");
    }

    private static void send(RoutingContext ctx, ConsoleAssets.Asset asset, String cacheControl) {
        HttpServerRequest request = ctx.request();
        HttpServerResponse response = secure(ctx.response());
        boolean gzip = acceptsGzip(request.getHeader("accept-encoding"));
        String etag = gzip ? asset.etag().substring(0, asset.etag().length() - 1) + "-gz\"" : asset.etag();
        response.putHeader("content-type", asset.contentType())
                .putHeader("cache-control", cacheControl)
                .putHeader("vary", "Accept-Encoding")
                .putHeader("etag", etag);
        if (matches(request.getHeader("if-none-match"), etag)) {
            response.setStatusCode(304).end();
            return;
        }
        if (gzip) {
            response.putHeader("content-encoding", "gzip").end(Buffer.buffer(asset.gzipped()));
        } else {
            response.end(Buffer.buffer(asset.bytes()));
        }
    }

    /** Whether an If-None-Match header names {@code etag} (or is {@code *}). */
    static boolean matches(String ifNoneMatch, String etag) {
        if (ifNoneMatch == null) {
            return false;
        }
        for (String tag : ifNoneMatch.split(",")) {
            String t = tag.strip();
            if (t.startsWith("W/")) {
                t = t.substring(2);
            }
            if (t.equals("*") || t.equals(etag)) {
                return true;
            }
        }
        return false;
    }

    /** Whether an Accept-Encoding header accepts gzip (named with a non-zero quality, or by {@code *}). */
    static boolean acceptsGzip(String acceptEncoding) {
        if (acceptEncoding == null) {
            return false;
        }
        boolean star = false;
        for (String part : acceptEncoding.split(",")) {
            String[] fields = part.strip().split(";");
            String coding = fields[0].strip().toLowerCase();
            double q = 1;
            for (int i = 1; i < fields.length; i++) {
                String f = fields[i].strip();
                if (f.startsWith("q=")) {
                    try {
                        q = Double.parseDouble(f.substring(2));
                    } catch (NumberFormatException e) {
                        q = 0;
                    }
                }
            }
            if (coding.equals("gzip") || coding.equals("x-gzip")) {
                return q > 0;
            }
            star |= coding.equals("*") && q > 0;
        }
        return star;
    }

    private void settings(RoutingContext ctx) {
        HttpServerResponse response = secure(ctx.response());
        try {
            admission.authenticate(ApiKeys.bearer(ctx.request().getHeader("authorization")));
        } catch (GatewayException e) {
            OpenAiErrors.send(response, e);
            return;
        }
        response.putHeader("content-type", "application/json").putHeader("cache-control", "no-store")
                .end(settingsJson(admission.limits()).toString());
    }

    /**
     * What the page shows next to its sampling controls: the value a request gets for each field it
     * leaves out, and this server's token limits (null where there is none).
     */
    static ObjectNode settingsJson(AdmissionLimits limits) {
        SamplingOptions d = SamplingOptions.builder().build();
        ObjectNode out = JSON.createObjectNode();
        ObjectNode sampling = out.putObject("sampling_defaults");
        sampling.put("temperature", d.temperature()).put("top_p", d.topP())
                .put("top_k", d.topK() == 0 ? -1 : d.topK()).put("min_p", d.minP())
                .put("presence_penalty", d.presencePenalty()).put("frequency_penalty", d.frequencyPenalty())
                .put("repetition_penalty", d.repetitionPenalty()).putNull("seed");
        ObjectNode maxTokens = out.putObject("max_tokens_default");
        maxTokens.put("completions", OpenAiDefaults.completionsMaxTokens(limits.maxTokens()));
        if (limits.maxTokens() > 0) {
            maxTokens.put("chat", limits.maxTokens());
        } else {
            maxTokens.putNull("chat"); // until the context is full
        }
        putLimit(out, "max_tokens_limit", limits.maxTokens());
        putLimit(out, "max_prompt_tokens", limits.maxPromptTokens());
        out.put("max_logprobs", SamplingOptions.MAX_LOGPROBS).put("max_stop_strings", SamplingOptions.MAX_STOP_STRINGS);
        return out;
    }

    private static void putLimit(ObjectNode out, String name, int value) {
        if (value > 0) {
            out.put(name, value);
        } else {
            out.putNull(name);
        }
    }

    private static void notFound(RoutingContext ctx) {
        secure(ctx.response()).setStatusCode(404).putHeader("content-type", "text/plain; charset=utf-8")
                .end("Not found");
    }
}
