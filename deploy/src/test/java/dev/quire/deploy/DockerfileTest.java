package dev.quire.deploy;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Dockerfiles build the images the compose file and the manifests run (quire/TARGET), each
 * as the non-root user the manifests require, exposing the ports the entry point gives them; and
 * the build context holds what they copy.
 */
class DockerfileTest {
    static final Path DOCKER = Images.ROOT.resolve("deploy/docker");

    /** Each stage's instructions, by stage name, in order. */
    static Map<String, List<String>> stages(Path dockerfile) throws IOException {
        Map<String, List<String>> stages = new LinkedHashMap<>();
        List<String> current = null;
        String joined = Files.readString(dockerfile).replaceAll("\\\\\n", " ");
        for (String line : joined.split("\n")) {
            line = line.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            Matcher from = Pattern.compile("FROM (\\S+)(?: AS (\\S+))?").matcher(line);
            if (from.matches()) {
                current = new ArrayList<>();
                current.add(line);
                stages.put(from.group(2) == null ? "stage-" + stages.size() : from.group(2), current);
            } else if (current != null) {
                current.add(line);
            }
        }
        return stages;
    }

    /** An instruction as the stage ends up with it, following its FROM chain within the file. */
    static String last(Map<String, List<String>> stages, String stage, String instruction) {
        List<String> lines = stages.get(stage);
        for (int i = lines.size() - 1; i >= 0; i--) {
            if (lines.get(i).startsWith(instruction + " ")) {
                return lines.get(i).substring(instruction.length() + 1);
            }
        }
        String parent = lines.get(0).split(" ")[1];
        return stages.containsKey(parent) ? last(stages, parent, instruction) : null;
    }

    @Test
    void theImagesTheDeploymentsRunAreTargetsRunningAsTheNonRootUser() throws IOException {
        Map<String, List<String>> cpu = stages(DOCKER.resolve("Dockerfile"));
        Map<String, List<String>> gpu = stages(DOCKER.resolve("Dockerfile.gpu"));
        Map<String, Map<String, List<String>>> images = new LinkedHashMap<>();
        for (String target : List.of("gateway", "worker", "demo")) {
            images.put("quire/" + target, cpu);
        }
        images.put("quire/worker-gpu", gpu);
        assertThat(images.keySet()).containsExactlyInAnyOrderElementsOf(ManifestChecks.IMAGES);
        for (var e : images.entrySet()) {
            String target = e.getKey().substring("quire/".length());
            assertThat(e.getValue()).as("Dockerfile target %s", target).containsKey(target);
            assertThat(last(e.getValue(), target, "USER")).as("%s: USER", target)
                    .isEqualTo(ManifestChecks.IMAGE_USER + ":" + ManifestChecks.IMAGE_USER);
            assertThat(last(e.getValue(), target, "ENTRYPOINT")).isEqualTo("[\"/opt/quire/bin/quire\"]");
            assertThat(last(e.getValue(), target, "HEALTHCHECK")).contains("/opt/quire/bin/quire-healthcheck");
            String expose = last(e.getValue(), target, "EXPOSE");
            // The entry point's ports (deploy/docker/entrypoint.sh) and the public ones.
            assertThat(expose).as("%s: EXPOSE", target).contains("8000", "5701")
                    .contains(target.equals("gateway") ? "50051" : "7000");
        }
        String entrypoint = Files.readString(DOCKER.resolve("entrypoint.sh"));
        assertThat(entrypoint).contains("QUIRE_PORT=\"${QUIRE_PORT:-7000}\"",
                "QUIRE_METRICS_PORT=\"${QUIRE_METRICS_PORT:-8000}\"");
        // The gateway image carries nothing of the model runtime.
        assertThat(String.join("\n", cpu.get("gateway"))).doesNotContain("server/target", "djl", "native");
    }

    /** Every file a COPY takes from the build context is let through .dockerignore (an allow-list). */
    @Test
    void theBuildContextHoldsWhatTheImagesCopy() throws IOException {
        List<Pattern> allowed = new ArrayList<>();
        for (String line : Files.readAllLines(Images.ROOT.resolve(".dockerignore"))) {
            if (line.startsWith("!")) {
                String glob = line.substring(1).replaceFirst("/$", "");
                allowed.add(Pattern.compile(Pattern.quote(glob).replace("*", "\\E[^/]*\\Q") + "(/.*)?"));
            }
        }
        int copies = 0;
        for (Path dockerfile : List.of(DOCKER.resolve("Dockerfile"), DOCKER.resolve("Dockerfile.gpu"))) {
            for (List<String> stage : stages(dockerfile).values()) {
                for (String line : stage) {
                    if (!line.startsWith("COPY ") || line.startsWith("COPY --from")) {
                        continue;
                    }
                    String[] parts = line.split("\\s+");
                    for (int i = 1; i < parts.length - 1; i++) {
                        String sample = parts[i].replace("*", "x").replaceFirst("/$", "");
                        assertThat(allowed).as("%s: COPY %s passes .dockerignore", dockerfile.getFileName(), parts[i])
                                .anyMatch(p -> p.matcher(sample).matches());
                        if (!parts[i].contains("target/")) {
                            assertThat(Images.ROOT.resolve(parts[i].contains("*") ? parts[i].substring(0,
                                    parts[i].lastIndexOf('/')) : parts[i])).exists();
                        }
                        copies++;
                    }
                }
            }
        }
        assertThat(copies).isGreaterThan(10);
    }
}
