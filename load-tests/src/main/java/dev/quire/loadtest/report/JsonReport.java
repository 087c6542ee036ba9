package dev.quire.loadtest.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.loadtest.driver.FaultInjector;
import dev.quire.loadtest.driver.RequestResult;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The result file ({@code --out}): the configuration, then per point every aggregate under vLLM's names
 * ({@code request_throughput}, {@code mean_ttft_ms}, {@code p99_itl_ms}, ...), then the injected faults.
 * Numbers that were not measured are {@code null}; an infinite request rate is the string {@code "inf"} (as
 * vLLM writes it).
 */
public final class JsonReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private JsonReport() {
    }

    /** The report as a JSON tree. */
    public static ObjectNode toJson(BenchReport report) {
        ObjectNode root = JSON.createObjectNode();
        root.put("tool", report.tool());
        root.put("date", report.date());
        root.set("config", value(report.config()));
        ArrayNode points = root.putArray("points");
        for (PointReport p : report.points()) {
            ObjectNode point = points.addObject();
            point.put("label", p.label());
            point.set("request_rate", rate(p.requestRate()));
            point.put("burstiness", p.burstiness());
            if (p.maxConcurrency() > 0) {
                point.put("max_concurrency", p.maxConcurrency());
            } else {
                point.putNull("max_concurrency");
            }
            p.metrics().values().forEach((k, v) -> point.set(k, value(v)));
            if (!p.requests().isEmpty()) {
                ArrayNode requests = point.putArray("requests");
                long start = p.requests().stream().mapToLong(RequestResult::sendNanos).min().orElse(0);
                for (RequestResult r : p.requests()) {
                    requests.add(request(r, start));
                }
            }
        }
        ArrayNode faults = root.putArray("faults");
        for (int i = 0; i < report.faults().size(); i++) {
            FaultInjector.Event e = report.faults().get(i);
            var f = faults.addObject().put("at_s", e.atSeconds()).put("action", e.action()).put("ok", e.ok())
                    .put("detail", e.detail());
            if (!report.points().isEmpty()) {
                FaultRecovery r = report.recoveries().get(i);
                f.put("streams_in_flight", r.inFlight()).put("streams_resumed", r.resumed())
                        .put("p50_pause_ms", r.percentile(50)).put("p99_pause_ms", r.percentile(99))
                        .put("max_pause_ms", r.percentile(100));
            }
        }
        return root;
    }

    /** Writes the report to a file, creating parent folders. */
    public static void write(BenchReport report, Path file) throws IOException {
        if (file.toAbsolutePath().getParent() != null) {
            Files.createDirectories(file.toAbsolutePath().getParent());
        }
        JSON.writeValue(file.toFile(), toJson(report));
    }

    static JsonNode rate(double rate) {
        return Double.isInfinite(rate) ? JSON.getNodeFactory().textNode("inf") : JSON.getNodeFactory().numberNode(rate);
    }

    private static ObjectNode request(RequestResult r, long start) {
        ObjectNode o = JSON.createObjectNode();
        o.put("sent_at_s", (r.sendNanos() - start) / 1e9);
        o.put("outcome", r.outcome().name().toLowerCase());
        o.put("finish_reason", r.finishReason());
        o.put("prompt_tokens", r.promptTokens());
        o.put("output_tokens", r.outputTokens());
        o.put("requested_tokens", r.requestedTokens());
        o.set("ttft_ms", number(r.ttftNanos() < 0 ? Double.NaN : r.ttftNanos() / 1e6));
        o.set("tpot_ms", number(r.tpotNanos() < 0 ? Double.NaN : r.tpotNanos() / 1e6));
        o.put("e2el_ms", r.e2elNanos() / 1e6);
        ArrayNode itl = o.putArray("itl_ms");
        long[] at = r.chunkOffsets();
        for (int i = 1; i < at.length; i++) {
            itl.add((at[i] - at[i - 1]) / 1e6);
        }
        o.put("duplicated", r.duplicated());
        if (r.retries() > 0) {
            o.put("retries", r.retries());
        }
        if (r.errorKind() != null) {
            o.put("error_kind", r.errorKind());
            o.put("error", r.errorMessage());
        }
        return o;
    }

    @SuppressWarnings("unchecked")
    private static JsonNode value(Object v) {
        if (v == null) {
            return JSON.getNodeFactory().nullNode();
        }
        if (v instanceof JsonNode node) {
            return node.deepCopy();
        }
        if (v instanceof Double d) {
            return number(d);
        }
        if (v instanceof Map<?, ?> map) {
            ObjectNode o = JSON.createObjectNode();
            ((Map<String, Object>) map).forEach((k, x) -> o.set(k, value(x)));
            return o;
        }
        if (v instanceof Iterable<?> list) {
            ArrayNode a = JSON.createArrayNode();
            list.forEach(x -> a.add(value(x)));
            return a;
        }
        return JSON.valueToTree(v);
    }

    private static JsonNode number(double d) {
        if (Double.isNaN(d)) {
            return JSON.getNodeFactory().nullNode();
        }
        if (Double.isInfinite(d)) {
            return JSON.getNodeFactory().textNode(d > 0 ? "inf" : "-inf");
        }
        return JSON.getNodeFactory().numberNode(d);
    }
}
