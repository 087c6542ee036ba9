package dev.quire.gateway.console;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.gateway.GatewayServer;
import dev.quire.gateway.TestModels;
import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.openai.Http;
import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.RequestHandle;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

import static org.assertj.core.api.Assertions.assertThat;

/** The console's HTTP side on a real gateway: headers, caching, --no-console, and the key rule of its data. */
class ConsoleRoutesTest {
    static final String KEY = "console-key";
    static final String CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
            + "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
            + "frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

    final Vertx vertx = Vertx.vertx();
    final List<GatewayServer> servers = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (GatewayServer s : servers) {
            s.close();
        }
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    int start(boolean console, ApiKeys keys, AdmissionLimits limits) throws Exception {
        GatewayMetrics metrics = new GatewayMetrics();
        TestModels.StubEngine engine = new TestModels.StubEngine("m") {
            @Override
            public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
                throw new UnsupportedOperationException("no generation in these tests");
            }
        };
        RequestDispatcher dispatcher = new RequestDispatcher(vertx, new ModelCatalog().add(engine),
                new AdmissionController(keys, limits), metrics, new AccessLog(false));
        GatewayServer server = GatewayServer.start(vertx, dispatcher, metrics, "127.0.0.1", 0, 0,
                () -> Http.JSON.createObjectNode().set("workers", Http.JSON.createArrayNode()), console);
        servers.add(server);
        return server.httpPort();
    }

    int start(boolean console) throws Exception {
        return start(console, ApiKeys.none(), AdmissionLimits.defaults());
    }

    static void assertSecurityHeaders(Http.Reply r) {
        assertThat(r.header("content-security-policy")).isEqualTo(CSP);
        assertThat(r.header("x-content-type-options")).isEqualTo("nosniff");
        assertThat(r.header("referrer-policy")).isEqualTo("no-referrer");
        assertThat(r.header("x-frame-options")).isEqualTo("DENY");
        assertThat(r.header("set-cookie")).isNull();
    }

    /** The asset paths the page names, e.g. /console/0123456789ab/app.js. */
    static List<String> assetPaths(String html) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("(?:href|src)=\"(/console/[^\"]+)\"").matcher(html);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    @Test
    void thePageIsServedAtTheRootWithAStrictPolicyAndRevalidated() throws Exception {
        int port = start(true);
        Http.Reply page = Http.get(port, "/");
        assertThat(page.status()).isEqualTo(200);
        assertSecurityHeaders(page);
        assertThat(page.header("content-type")).isEqualTo("text/html; charset=utf-8");
        assertThat(page.header("cache-control")).isEqualTo("no-cache");
        assertThat(page.header("etag")).matches("\"[A-Za-z0-9_-]{27}\"");
        assertThat(page.body()).doesNotContain(ConsoleAssets.ASSETS_PLACEHOLDER).contains("<title>Quire</title>");
        // The page says nothing about this server: no model, no version, no address.
        assertThat(page.body()).doesNotContain("\"m\"").doesNotContain("127.0.0.1");

        java.net.http.HttpResponse<byte[]> head = java.net.http.HttpClient.newHttpClient().send(
                java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + "/"))
                        .method("HEAD", java.net.http.HttpRequest.BodyPublishers.noBody()).build(),
                java.net.http.HttpResponse.BodyHandlers.ofByteArray());
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.body()).isEmpty();
        assertThat(head.headers().firstValue("etag")).hasValue(page.header("etag"));

        Http.Reply again = Http.get(port, "/", "If-None-Match", page.header("etag"));
        assertThat(again.status()).isEqualTo(304);
        assertThat(again.bytes()).isEmpty();
        assertSecurityHeaders(again);
    }

    @Test
    void everyAssetThePageNamesIsServedWithItsTypeAndCachedForGood() throws Exception {
        int port = start(true);
        String html = Http.get(port, "/").body();
        List<String> paths = assetPaths(html);
        assertThat(paths).hasSize(ConsoleAssets.FILES.size() - 1); // every file but index.html
        String version = ConsoleAssets.load().version();
        for (String path : paths) {
            assertThat(path).startsWith("/console/" + version + "/");
            Http.Reply r = Http.get(port, path);
            assertThat(r.status()).as(path).isEqualTo(200);
            assertSecurityHeaders(r);
            assertThat(r.header("cache-control")).isEqualTo("public, max-age=31536000, immutable");
            assertThat(r.header("content-type")).as(path).isEqualTo(path.endsWith(".js")
                    ? "text/javascript; charset=utf-8"
                    : path.endsWith(".css") ? "text/css; charset=utf-8" : "image/svg+xml");
            assertThat(r.bytes()).isNotEmpty();
        }
        // A page from before an upgrade asks for another version: today's file, not cached for good.
        Http.Reply old = Http.get(port, "/console/000000000000/app.js");
        assertThat(old.status()).isEqualTo(200);
        assertThat(old.header("cache-control")).isEqualTo("no-cache");
    }

    @Test
    void gzipWhenAcceptedWithItsOwnTag() throws Exception {
        int port = start(true);
        String version = ConsoleAssets.load().version();
        Http.Reply plain = Http.get(port, "/console/" + version + "/playground.js");
        Http.Reply gz = Http.get(port, "/console/" + version + "/playground.js", "Accept-Encoding", "gzip, deflate");
        assertThat(plain.header("content-encoding")).isNull();
        assertThat(gz.header("content-encoding")).isEqualTo("gzip");
        assertThat(gz.header("vary")).isEqualTo("Accept-Encoding");
        assertThat(gz.bytes().length).isLessThan(plain.bytes().length);
        assertThat(gunzip(gz.bytes())).isEqualTo(plain.bytes());
        assertThat(gz.header("etag")).isNotEqualTo(plain.header("etag")).endsWith("-gz\"");
        assertThat(Http.get(port, "/console/" + version + "/playground.js", "Accept-Encoding", "gzip",
                "If-None-Match", gz.header("etag")).status()).isEqualTo(304);
        assertThat(Http.get(port, "/console/" + version + "/playground.js", "Accept-Encoding", "gzip;q=0")
                .header("content-encoding")).isNull();
    }

    static byte[] gunzip(byte[] bytes) throws IOException {
        try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(bytes))) {
            return in.readAllBytes();
        }
    }

    @Test
    void unknownConsolePathsAre404WithTheSameHeaders() throws Exception {
        int port = start(true);
        String version = ConsoleAssets.load().version();
        for (String path : List.of("/console/" + version + "/missing.js", "/console/" + version + "/..%2Fapp.js",
                "/console/" + version + "/", "/console/", "/console/abc/app.js", "/index.html")) {
            Http.Reply r = Http.get(port, path);
            assertThat(r.status()).as(path).isEqualTo(404);
        }
        Http.Reply r = Http.get(port, "/console/" + version + "/missing.js");
        assertSecurityHeaders(r);
        assertThat(r.header("content-type")).isEqualTo("text/plain; charset=utf-8");
    }

    @Test
    void noConsoleMeans404AtTheRootWhileTheApisStay() throws Exception {
        int port = start(false);
        assertThat(Http.get(port, "/").status()).isEqualTo(404);
        assertThat(Http.get(port, "/console/" + ConsoleAssets.load().version() + "/app.js").status()).isEqualTo(404);
        assertThat(Http.get(port, "/console/settings").status()).isEqualTo(404);
        assertThat(Http.get(port, "/stats").status()).isEqualTo(200);
        assertThat(Http.get(port, "/cluster").status()).isEqualTo(200);
        assertThat(Http.get(port, "/v1/models").status()).isEqualTo(200);
    }

    @Test
    void withKeysTheFilesArePublicAndEverythingDynamicNeedsTheKey() throws Exception {
        int port = start(true, ApiKeys.of(List.of(KEY)), AdmissionLimits.defaults());
        assertThat(Http.get(port, "/").status()).isEqualTo(200);
        assertThat(Http.get(port, "/console/" + ConsoleAssets.load().version() + "/app.js").status()).isEqualTo(200);
        for (String path : List.of("/console/settings", "/stats", "/cluster", "/v1/models")) {
            Http.Reply refused = Http.get(port, path);
            assertThat(refused.status()).as(path).isEqualTo(401);
            assertThat(refused.error().get("type").asText()).isNotBlank();
            assertThat(Http.get(port, path, "Authorization", "Bearer wrong").status()).as(path).isEqualTo(401);
            assertThat(Http.get(port, path, "Authorization", "Bearer " + KEY).status()).as(path).isEqualTo(200);
        }
        // Health and metrics stay open, as before.
        assertThat(Http.get(port, "/health").status()).isEqualTo(200);
        assertThat(Http.get(port, "/metrics").status()).isEqualTo(200);
    }

    @Test
    void settingsShowTheDefaultsARequestGetsAndTheServersLimits() throws Exception {
        JsonNode open = Http.get(start(true), "/console/settings").json();
        assertThat(open.get("sampling_defaults").toString()).isEqualTo("{\"temperature\":1.0,\"top_p\":1.0,"
                + "\"top_k\":-1,\"min_p\":0.0,\"presence_penalty\":0.0,\"frequency_penalty\":0.0,"
                + "\"repetition_penalty\":1.0,\"seed\":null}");
        assertThat(open.get("max_tokens_default").toString()).isEqualTo("{\"completions\":16,\"chat\":null}");
        assertThat(open.get("max_tokens_limit").isNull()).isTrue();
        assertThat(open.get("max_logprobs").asInt()).isEqualTo(20);

        AdmissionLimits limited = new AdmissionLimits(4096, 1024, java.time.Duration.ofSeconds(60), 0, 0, 300, 8,
                4 << 20);
        JsonNode capped = Http.get(start(true, ApiKeys.none(), limited), "/console/settings").json();
        assertThat(capped.get("max_tokens_default").toString()).isEqualTo("{\"completions\":8,\"chat\":8}");
        assertThat(capped.get("max_tokens_limit").asInt()).isEqualTo(8);
        assertThat(capped.get("max_prompt_tokens").asInt()).isEqualTo(300);
    }

    @Test
    void statsAreCompactJsonWithTheLoadOfTheEngines() throws Exception {
        Http.Reply r = Http.get(start(true), "/stats");
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.header("content-type")).isEqualTo("application/json");
        assertThat(r.header("cache-control")).isEqualTo("no-store");
        JsonNode stats = r.json();
        assertThat(Http.fields(stats)).isEqualTo("time_ms,uptime_seconds,totals,last_minute,series,now");
        assertThat(stats.get("now").toString()).isEqualTo("{\"in_flight\":0,\"queued\":0,\"models\":{\"m\":"
                + "{\"running\":0,\"waiting\":0,\"kv_blocks_used\":0,\"kv_blocks_total\":1}},"
                + "\"running\":0,\"waiting\":0}");
        assertThat(stats.get("series").get("requests")).hasSize(60);
        assertThat(r.bytes().length).as("small enough to poll every two seconds").isLessThan(8192);
    }

    @Test
    void acceptEncodingAndIfNoneMatchParsing() {
        assertThat(ConsoleRoutes.acceptsGzip(null)).isFalse();
        assertThat(ConsoleRoutes.acceptsGzip("gzip")).isTrue();
        assertThat(ConsoleRoutes.acceptsGzip("br, GZIP;q=0.5")).isTrue();
        assertThat(ConsoleRoutes.acceptsGzip("gzip;q=0")).isFalse();
        assertThat(ConsoleRoutes.acceptsGzip("identity")).isFalse();
        assertThat(ConsoleRoutes.acceptsGzip("*")).isTrue();
        assertThat(ConsoleRoutes.acceptsGzip("gzip;q=0, *")).isFalse();
        assertThat(ConsoleRoutes.matches("\"a\", \"b\"", "\"b\"")).isTrue();
        assertThat(ConsoleRoutes.matches("W/\"b\"", "\"b\"")).isTrue();
        assertThat(ConsoleRoutes.matches("*", "\"b\"")).isTrue();
        assertThat(ConsoleRoutes.matches("\"c\"", "\"b\"")).isFalse();
    }
}
