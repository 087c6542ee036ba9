package dev.quire.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static dev.quire.deploy.Yaml.kind;
import static dev.quire.deploy.Yaml.name;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Kubernetes files (deploy/k8s): every manifest parses, every file is used, and the objects
 * agree with each other and with Quire's commands ({@link ManifestChecks}); the overlays too, once
 * rendered by {@code kubectl kustomize} where kubectl is installed. Schemas are not validated: that
 * needs an API server or kubeconform, neither of which is available offline.
 */
class ManifestTest {
    static final Path K8S = Images.ROOT.resolve("deploy/k8s");
    static final Path BASE = K8S.resolve("base");

    /** The base's objects as its kustomization lists them, with its generated ConfigMap and Secret. */
    static ManifestChecks base() {
        JsonNode k = Yaml.document(BASE.resolve("kustomization.yaml"));
        List<JsonNode> objects = new ArrayList<>();
        for (JsonNode r : k.path("resources")) {
            objects.addAll(Yaml.documents(BASE.resolve(r.asText())));
        }
        Map<String, Map<String, String>> configMaps = new HashMap<>();
        for (JsonNode g : k.path("configMapGenerator")) {
            Map<String, String> files = new LinkedHashMap<>();
            for (JsonNode f : g.path("files")) {
                String[] keyPath = generatorEntry(f.asText());
                files.put(keyPath[0], read(BASE.resolve(keyPath[1])));
            }
            configMaps.put(g.path("name").asText(), files);
        }
        Map<String, Set<String>> secrets = new HashMap<>();
        for (JsonNode g : k.path("secretGenerator")) {
            Set<String> keys = new LinkedHashSet<>();
            g.path("files").forEach(f -> keys.add(generatorEntry(f.asText())[0]));
            secrets.put(g.path("name").asText(), keys);
        }
        return new ManifestChecks(objects, configMaps, secrets, k.path("namespace").asText());
    }

    /** "key=path" or "path" (the key is then the file's name). */
    static String[] generatorEntry(String entry) {
        int eq = entry.indexOf('=');
        return eq < 0 ? new String[]{Path.of(entry).getFileName().toString(), entry}
                : new String[]{entry.substring(0, eq), entry.substring(eq + 1)};
    }

    static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<Path> files(Path dir, String suffix) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> Files.isRegularFile(p) && p.toString().endsWith(suffix)).sorted().toList();
        }
    }

    @Test
    void everyFileParsesAndIsUsedByAKustomization() throws IOException {
        Set<Path> used = new LinkedHashSet<>();
        List<Path> kustomizations = files(K8S, "kustomization.yaml");
        assertThat(kustomizations).extracting(p -> K8S.relativize(p).toString())
                .contains("base/kustomization.yaml", "overlays/cpu-demo/kustomization.yaml");
        for (Path kf : kustomizations) {
            Path dir = kf.getParent();
            used.add(kf);
            JsonNode k = Yaml.document(kf);
            for (JsonNode r : k.path("resources")) {
                Path p = dir.resolve(r.asText()).normalize();
                assertThat(Files.isRegularFile(p) || Files.isRegularFile(p.resolve("kustomization.yaml")))
                        .as("%s: resource %s", kf, r.asText()).isTrue();
                used.add(p);
            }
            for (String generator : List.of("configMapGenerator", "secretGenerator")) {
                for (JsonNode g : k.path(generator)) {
                    for (JsonNode f : g.path("files")) {
                        Path p = dir.resolve(generatorEntry(f.asText())[1]).normalize();
                        if (generator.equals("configMapGenerator")) {
                            assertThat(p).as("%s: generator file", kf).isRegularFile();
                        } else {
                            // Made by the operator, never committed: the folder must keep them out of git.
                            assertThat(read(p.getParent().resolve(".gitignore"))).as("%s is ignored by git", p)
                                    .contains("*");
                        }
                        used.add(p);
                    }
                }
            }
            for (JsonNode patch : k.path("patches")) {
                Path p = dir.resolve(patch.path("path").asText()).normalize();
                assertThat(p).as("%s: patch", kf).isRegularFile();
                used.add(p);
            }
        }
        for (Path f : files(K8S, ".yaml")) {
            List<JsonNode> docs = Yaml.documents(f);
            assertThat(docs).as("%s holds YAML", f).isNotEmpty();
            assertThat(used).as("%s is used by a kustomization", K8S.relativize(f)).contains(f);
            boolean isResource = kustomizations.stream().anyMatch(kf -> {
                for (JsonNode r : Yaml.document(kf).path("resources")) {
                    if (kf.getParent().resolve(r.asText()).normalize().equals(f)) {
                        return true;
                    }
                }
                return false;
            });
            if (isResource) {
                for (JsonNode d : docs) {
                    assertThat(d.path("apiVersion").asText()).as("%s: apiVersion", f).isNotBlank();
                    assertThat(kind(d)).as("%s: kind", f).isNotBlank();
                    assertThat(name(d)).as("%s: metadata.name", f).isNotBlank();
                }
            }
        }
    }

    @Test
    void theBaseAgreesWithItselfAndWithQuiresCommands() {
        ManifestChecks base = base();
        assertThat(base.problems()).isEmpty();
        assertThat(base.objects()).extracting(Yaml::describe).contains("Deployment/quire-gateway",
                "StatefulSet/quire-worker", "Service/quire-gateway", "Service/quire-cluster",
                "PodDisruptionBudget/quire-gateway", "PodDisruptionBudget/quire-worker", "NetworkPolicy/quire-gateway",
                "NetworkPolicy/quire-worker", "PersistentVolumeClaim/quire-models", "Namespace/quire");
    }

    @Test
    void theBaseRunsOneWorkerPerGpuWithItsModelMounted() {
        JsonNode worker = base().find("StatefulSet", "quire-worker");
        JsonNode container = worker.path("spec").path("template").path("spec").path("containers").get(0);
        assertThat(container.path("resources").path("limits").path("nvidia.com/gpu").asInt()).isEqualTo(1);
        assertThat(container.path("resources").path("requests").path("nvidia.com/gpu").asInt()).isEqualTo(1);
        assertThat(container.path("image").asText()).startsWith("quire/worker-gpu");
        assertThat(read(BASE.resolve("config/worker.yaml"))).contains("device: cuda:0", "model: /models/");
    }

    /** Each kind of mistake the checks exist for is reported (so that an empty report means something). */
    @Test
    void brokenReferencesAreReported() {
        assertReported(m -> port(m, "Service", "quire-gateway").put("targetPort", "htp"),
                "Service/quire-gateway: port http: targetPort htp is not a port of Deployment/quire-gateway");
        assertReported(m -> volume(m, "Deployment", "quire-gateway", "secrets").with("secret")
                .put("secretName", "quire-secret"), "Secret quire-secret does not exist");
        assertReported(m -> volume(m, "StatefulSet", "quire-worker", "secrets").with("secret").withArray("items")
                .insertObject(0).put("key", "api-key").put("path", "api-key"), "Secret quire-secrets has no key api-key");
        assertReported(m -> m.configMaps().get("quire-config").compute("worker.yaml", (k, v) -> v + "max-seq: 8\n"),
                "config key 'max-seq' is not an option of quire worker");
        assertReported(m -> m.configMaps().get("quire-config").compute("gateway.yaml", (k, v) -> v
                + "max-seqs: 8\n"), "config key 'max-seqs' is not an option of quire gateway");
        assertReported(m -> m.configMaps().get("quire-config").compute("worker.yaml", (k, v) -> v
                .replace("drain-timeout: 30s", "drain-timeout: 30 seconds")), "the configuration does not parse");
        assertReported(m -> m.configMaps().get("quire-config").compute("worker.yaml", (k, v) -> v
                .replace("quire-cluster.quire.svc", "quire-cluster.default.svc")), "names namespace default");
        assertReported(m -> m.configMaps().get("quire-config").compute("worker.yaml", (k, v) -> v
                .replace("port: 7000", "port: 7001")), "port is 7001 but container port 'data-plane' is 7000");
        assertReported(m -> m.configMaps().get("quire-config").compute("worker.yaml", (k, v) -> v
                .replace("device: cuda:0", "device: cuda:1")), "device cuda:1 but the container's limits grant 1 GPU");
        assertReported(m -> m.configMaps().get("quire-config").compute("gateway.yaml", (k, v) -> v
                .replace("/etc/quire/secrets/api-keys", "/etc/quire/secret/api-keys")), "api-keys-file");
        assertReported(m -> ((ObjectNode) m.find("StatefulSet", "quire-worker").path("spec").path("template")
                .path("spec")).put("terminationGracePeriodSeconds", 20), "terminationGracePeriodSeconds 20");
        assertReported(m -> ((ObjectNode) m.find("Deployment", "quire-gateway").path("spec").path("template")
                .path("spec")).put("terminationGracePeriodSeconds", 36), "terminationGracePeriodSeconds 36");
        assertReported(m -> ((ObjectNode) m.find("NetworkPolicy", "quire-worker").path("spec").path("ingress").get(0)
                .path("ports").get(0)).put("port", "hazelcst"), "ingress port hazelcst");
        assertReported(m -> ((ObjectNode) m.find("Service", "quire-cluster").path("spec"))
                .remove("publishNotReadyAddresses"), "publish not-ready addresses");
        assertReported(m -> ((ObjectNode) m.find("PodDisruptionBudget", "quire-worker").path("spec").path("selector")
                .path("matchLabels")).put("app.kubernetes.io/component", "workers"), "selects 0 workloads");
        assertReported(m -> ((ObjectNode) container(m, "Deployment", "quire-gateway").path("readinessProbe")
                .path("httpGet")).put("path", "/health"), "readinessProbe should GET /ready");
        assertReported(m -> ((ObjectNode) container(m, "StatefulSet", "quire-worker").path("livenessProbe")
                .path("httpGet")).put("port", "metrics"), "livenessProbe port metrics is not a container port");
        assertReported(m -> ((ObjectNode) m.find("StatefulSet", "quire-worker").path("spec")).put("serviceName",
                "quire-workers"), "serviceName quire-workers names no Service");
        assertReported(m -> ((ObjectNode) container(m, "StatefulSet", "quire-worker")).put("image", "quire/wroker-gpu"),
                "image quire/wroker-gpu");
        assertReported(m -> ((ObjectNode) m.find("StatefulSet", "quire-worker").path("spec").path("template")
                .path("spec").path("securityContext")).put("runAsUser", 0), "non-root user 10001");
    }

    static void assertReported(Consumer<ManifestChecks> mutation, String expected) {
        ManifestChecks fresh = base();
        mutation.accept(fresh);
        assertThat(fresh.problems()).as("after a deliberate mistake").anyMatch(p -> p.contains(expected));
    }

    static JsonNode container(ManifestChecks m, String kind, String name) {
        return m.find(kind, name).path("spec").path("template").path("spec").path("containers").get(0);
    }

    static ObjectNode port(ManifestChecks m, String kind, String name) {
        return (ObjectNode) m.find(kind, name).path("spec").path("ports").get(1);
    }

    static ObjectNode volume(ManifestChecks m, String kind, String name, String volume) {
        for (JsonNode v : (ArrayNode) m.find(kind, name).path("spec").path("template").path("spec").path("volumes")) {
            if (v.path("name").asText().equals(volume)) {
                return (ObjectNode) v;
            }
        }
        throw new AssertionError("no volume " + volume);
    }

    @Test
    void everyKustomizationRendersToObjectsThatAgree() throws Exception {
        Assumptions.assumeTrue(Images.run(30, "kubectl", "version", "--client") == 0,
                "kubectl is not installed: the overlays were not rendered (their files were still parsed)");
        Path copy = Files.createTempDirectory("quire-k8s");
        try {
            try (Stream<Path> s = Files.walk(K8S)) {
                for (Path p : s.toList()) {
                    Path target = copy.resolve(K8S.relativize(p).toString());
                    if (Files.isDirectory(p)) {
                        Files.createDirectories(target);
                    } else {
                        Files.copy(p, target);
                    }
                }
            }
            // What the operator makes before applying (kustomization.yaml says how).
            Files.writeString(copy.resolve("base/secrets/cluster-secret"), "a-cluster-secret-for-rendering-only\n");
            Files.writeString(copy.resolve("base/secrets/api-keys"), "key-for-rendering-only\n");
            for (Path kf : files(copy, "kustomization.yaml")) {
                Path dir = kf.getParent();
                Path out = Files.createTempFile("quire-k8s-rendered", ".yaml");
                Process p = new ProcessBuilder("kubectl", "kustomize", dir.toString()).redirectErrorStream(true)
                        .redirectOutput(out.toFile()).start();
                assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
                String rendered = Files.readString(out);
                Files.delete(out);
                assertThat(p.exitValue()).as("kubectl kustomize %s:\n%s", copy.relativize(dir), rendered).isZero();
                ManifestChecks checks = ManifestChecks.rendered(rendered);
                assertThat(checks.problems()).as("%s rendered", copy.relativize(dir)).isEmpty();
                assertThat(checks.workloads()).as("%s rendered", copy.relativize(dir)).hasSize(2);
                System.out.printf("kubectl kustomize %s: %d objects agree%n", copy.relativize(dir),
                        checks.objects().size());
            }
        } finally {
            try (Stream<Path> s = Files.walk(copy)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }
}
