package dev.quire.loadtest.soak;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A soak's results: the command and configuration, every sample, the per-kind request counts, the checks
 * and the verdict. Written as JSON (for machines: {@code verdict} is {@code "pass"} or {@code "fail"}) and as
 * Markdown next to it (same name, {@code .md}) for people.
 */
public record SoakReport(Map<String, Object> config, List<Sample> samples, Gauges baseline,
                         Map<SoakLoad.Kind, long[]> requests, List<String> unexpectedMessages,
                         List<SoakVerdict.Check> checks) {

    public boolean passed() {
        return SoakVerdict.passed(checks);
    }

    public void write(Path json) throws IOException {
        Path dir = json.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("verdict", passed() ? "pass" : "fail");
        root.put("config", config);
        List<Map<String, Object>> checkList = new ArrayList<>();
        for (SoakVerdict.Check c : checks) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", c.name());
            m.put("passed", c.passed());
            m.put("detail", c.detail());
            checkList.add(m);
        }
        root.put("checks", checkList);
        Map<String, Object> req = new LinkedHashMap<>();
        requests.forEach((kind, n) -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("sent", n[0]);
            m.put("ok", n[1]);
            m.put("refused_429", n[2]);
            m.put("unexpected", n[3]);
            req.put(kind.name().toLowerCase(java.util.Locale.ROOT), m);
        });
        root.put("requests", req);
        root.put("unexpected_messages", unexpectedMessages);
        root.put("baseline", baseline);
        root.put("samples", samples);
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(json.toFile(), root);
        String name = json.getFileName().toString();
        Path md = json.resolveSibling((name.endsWith(".json") ? name.substring(0, name.length() - 5) : name) + ".md");
        Files.writeString(md, markdown(), StandardCharsets.UTF_8);
    }

    public String markdown() {
        StringBuilder b = new StringBuilder();
        b.append("# Soak: ").append(passed() ? "PASS" : "FAIL").append("\n\n");
        b.append("Command: `").append(config.get("command")).append("`\n\n");
        b.append("| setting | value |\n| --- | --- |\n");
        config.forEach((k, v) -> {
            if (!k.equals("command")) {
                b.append("| ").append(k).append(" | ").append(v).append(" |\n");
            }
        });
        b.append("\n## Checks\n\n| check | result | detail |\n| --- | --- | --- |\n");
        for (SoakVerdict.Check c : checks) {
            b.append("| ").append(c.name()).append(" | ").append(c.passed() ? "pass" : "FAIL").append(" | ")
                    .append(c.detail()).append(" |\n");
        }
        b.append("\n## Requests\n\n| kind | what | sent | as expected | refused (429) | unexpected |\n"
                + "| --- | --- | --- | --- | --- | --- |\n");
        requests.forEach((kind, n) -> b.append("| ").append(kind.name().toLowerCase(java.util.Locale.ROOT))
                .append(" | ").append(kind.description).append(" | ").append(n[0]).append(" | ").append(n[1])
                .append(" | ").append(n[2]).append(" | ").append(n[3]).append(" |\n"));
        if (!unexpectedMessages.isEmpty()) {
            b.append("\nFirst unexpected answers:\n\n");
            unexpectedMessages.forEach(m -> b.append("- ").append(m.replace("|", "\\|")).append('\n'));
        }
        b.append("\n## Samples\n\n| t (s) | phase | client in flight | RSS (MiB) | heap (MiB) | threads | fds | KV use "
                + "| KV blocks | running | waiting | gateway in flight | queued |\n"
                + "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for (Sample s : samples) {
            Gauges g = s.gauges();
            b.append(String.format("| %.1f | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n",
                    s.seconds(), s.phase(), s.clientInFlight(), mib(g.rssBytes()), mib(g.heapBytes()),
                    Gauges.fmt(g.threads()), Gauges.fmt(g.fds()), Gauges.fmt(g.kvUsage()),
                    Gauges.fmt(g.kvBlocksUsed()), Gauges.fmt(g.running()), Gauges.fmt(g.waiting()),
                    Gauges.fmt(g.inFlight()), Gauges.fmt(g.queued())));
        }
        return b.toString();
    }

    private static String mib(double bytes) {
        return Double.isNaN(bytes) ? "NaN" : String.format("%.1f", bytes / (1024 * 1024));
    }
}
