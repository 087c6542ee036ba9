package dev.quire.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.gateway.cli.ConfigDefaults;
import dev.quire.gateway.cli.QuireCli;
import picocli.CommandLine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.quire.deploy.Yaml.describe;
import static dev.quire.deploy.Yaml.kind;
import static dev.quire.deploy.Yaml.map;
import static dev.quire.deploy.Yaml.name;
import static dev.quire.deploy.Yaml.selects;

/**
 * Checks that a set of Kubernetes objects agree with each other and with Quire: selectors match
 * labels, ports and port names agree, every Service, budget and policy selects a workload, every
 * ConfigMap, Secret, key and claim referenced exists, probes use the health endpoints on declared
 * ports, and each Quire container's --config file holds only options its command accepts, with
 * values it parses, naming files that are mounted and ports that are declared. Each problem is one
 * line of {@link #problems()}.
 */
final class ManifestChecks {
    static final Set<String> WORKLOADS = Set.of("Deployment", "StatefulSet", "DaemonSet");
    /** The images deploy/build-images.sh builds: quire/TARGET. */
    static final Set<String> IMAGES = Set.of("quire/gateway", "quire/worker", "quire/demo", "quire/worker-gpu");
    /** The user the images run as (deploy/docker/Dockerfile: USER 10001:10001). */
    static final int IMAGE_USER = 10001;

    private final List<JsonNode> objects;
    /** ConfigMap name to its files (key to text). */
    private final Map<String, Map<String, String>> configMaps;
    /** Secret name to its keys. */
    private final Map<String, Set<String>> secrets;
    private final String namespace;
    private final Set<String> problems = new LinkedHashSet<>();

    ManifestChecks(List<JsonNode> objects, Map<String, Map<String, String>> configMaps, Map<String, Set<String>> secrets,
                   String namespace) {
        this.objects = objects;
        this.configMaps = configMaps;
        this.secrets = secrets;
        this.namespace = namespace;
    }

    /** The objects of {@code kubectl kustomize} output, ConfigMaps and Secrets included. */
    static ManifestChecks rendered(String yaml) {
        List<JsonNode> objects = Yaml.documents(yaml);
        Map<String, Map<String, String>> configMaps = new HashMap<>();
        Map<String, Set<String>> secrets = new HashMap<>();
        String namespace = null;
        for (JsonNode o : objects) {
            if (kind(o).equals("ConfigMap")) {
                configMaps.put(name(o), new LinkedHashMap<>(map(o.path("data"))));
            } else if (kind(o).equals("Secret")) {
                Set<String> keys = new LinkedHashSet<>(map(o.path("data")).keySet());
                keys.addAll(map(o.path("stringData")).keySet());
                secrets.put(name(o), keys);
            }
            if (o.path("metadata").has("namespace")) {
                namespace = o.path("metadata").path("namespace").asText();
            }
        }
        return new ManifestChecks(objects, configMaps, secrets, namespace);
    }

    List<JsonNode> objects() {
        return objects;
    }

    Map<String, Map<String, String>> configMaps() {
        return configMaps;
    }

    Set<String> problems() {
        problems.clear();
        checkNamespace();
        for (JsonNode o : objects) {
            switch (kind(o)) {
                case "Deployment", "StatefulSet", "DaemonSet" -> checkWorkload(o);
                case "Service" -> checkService(o);
                case "PodDisruptionBudget" -> checkBudget(o);
                case "NetworkPolicy" -> checkPolicy(o);
                default -> {
                }
            }
        }
        return problems;
    }

    private void problem(JsonNode object, String text) {
        problems.add(describe(object) + ": " + text);
    }

    private void checkNamespace() {
        boolean declared = objects.stream().anyMatch(o -> kind(o).equals("Namespace") && name(o).equals(namespace));
        if (namespace == null || !declared) {
            problems.add("the objects' namespace " + namespace + " is not among them as a Namespace");
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Workloads and their pods

    List<JsonNode> workloads() {
        return objects.stream().filter(o -> WORKLOADS.contains(kind(o))).toList();
    }

    static JsonNode pod(JsonNode workload) {
        return workload.path("spec").path("template");
    }

    static Map<String, String> podLabels(JsonNode workload) {
        return map(pod(workload).path("metadata").path("labels"));
    }

    List<JsonNode> selected(Map<String, String> selector) {
        return workloads().stream().filter(w -> selects(selector, podLabels(w))).toList();
    }

    Set<String> portNames(JsonNode workload) {
        Set<String> names = new LinkedHashSet<>();
        for (JsonNode c : pod(workload).path("spec").path("containers")) {
            for (JsonNode p : c.path("ports")) {
                names.add(p.path("name").asText());
            }
        }
        return names;
    }

    static Integer containerPort(JsonNode container, String name) {
        for (JsonNode p : container.path("ports")) {
            if (p.path("name").asText().equals(name)) {
                return p.path("containerPort").asInt();
            }
        }
        return null;
    }

    private boolean hasPort(JsonNode workload, JsonNode port) {
        if (port.isInt()) {
            for (JsonNode c : pod(workload).path("spec").path("containers")) {
                for (JsonNode p : c.path("ports")) {
                    if (p.path("containerPort").asInt() == port.asInt()) {
                        return true;
                    }
                }
            }
            return false;
        }
        return portNames(workload).contains(port.asText());
    }

    private void checkWorkload(JsonNode w) {
        Map<String, String> selector = map(w.path("spec").path("selector").path("matchLabels"));
        if (!selects(selector, podLabels(w))) {
            problem(w, "selector " + selector + " does not match its pod labels " + podLabels(w));
        }
        if (kind(w).equals("StatefulSet")) {
            String serviceName = w.path("spec").path("serviceName").asText();
            JsonNode service = find("Service", serviceName);
            if (service == null) {
                problem(w, "serviceName " + serviceName + " names no Service");
            } else if (!service.path("spec").path("clusterIP").asText().equals("None")
                    || !selects(map(service.path("spec").path("selector")), podLabels(w))) {
                problem(w, "serviceName " + serviceName + " is not a headless Service selecting its pods");
            }
        }
        JsonNode spec = pod(w).path("spec");
        JsonNode security = spec.path("securityContext");
        if (!security.path("runAsNonRoot").asBoolean() || security.path("runAsUser").asInt() != IMAGE_USER) {
            problem(w, "pods must run as non-root user " + IMAGE_USER + " (the images' user)");
        }
        Map<String, JsonNode> volumes = new LinkedHashMap<>();
        for (JsonNode v : spec.path("volumes")) {
            volumes.put(v.path("name").asText(), v);
            checkVolume(w, v);
        }
        Set<String> mounted = new LinkedHashSet<>();
        for (JsonNode c : spec.path("containers")) {
            checkContainer(w, c, volumes);
            c.path("volumeMounts").forEach(m -> mounted.add(m.path("name").asText()));
        }
        for (String v : volumes.keySet()) {
            if (!mounted.contains(v)) {
                problem(w, "volume " + v + " is mounted by no container");
            }
        }
    }

    private void checkVolume(JsonNode w, JsonNode v) {
        if (v.has("configMap")) {
            String cm = v.path("configMap").path("name").asText();
            if (!configMaps.containsKey(cm)) {
                problem(w, "volume " + v.path("name").asText() + ": ConfigMap " + cm + " does not exist");
            }
        } else if (v.has("secret")) {
            String secret = v.path("secret").path("secretName").asText();
            if (!secrets.containsKey(secret)) {
                problem(w, "volume " + v.path("name").asText() + ": Secret " + secret + " does not exist");
            } else {
                for (JsonNode item : v.path("secret").path("items")) {
                    if (!secrets.get(secret).contains(item.path("key").asText())) {
                        problem(w, "Secret " + secret + " has no key " + item.path("key").asText());
                    }
                }
            }
        } else if (v.has("persistentVolumeClaim")) {
            String claim = v.path("persistentVolumeClaim").path("claimName").asText();
            if (find("PersistentVolumeClaim", claim) == null) {
                problem(w, "volume " + v.path("name").asText() + ": PersistentVolumeClaim " + claim + " does not exist");
            }
        }
    }

    private void checkContainer(JsonNode w, JsonNode c, Map<String, JsonNode> volumes) {
        String container = c.path("name").asText();
        String image = c.path("image").asText().replaceFirst(":[^/:]+$", "");
        if (!IMAGES.contains(image)) {
            problem(w, container + ": image " + image + " is not one deploy/build-images.sh builds " + IMAGES);
        }
        for (JsonNode m : c.path("volumeMounts")) {
            if (!volumes.containsKey(m.path("name").asText())) {
                problem(w, container + ": volumeMount " + m.path("name").asText() + " names no volume");
            }
        }
        for (JsonNode e : c.path("env")) {
            JsonNode ref = e.path("valueFrom");
            if (ref.has("secretKeyRef")) {
                String s = ref.path("secretKeyRef").path("name").asText();
                if (!secrets.getOrDefault(s, Set.of()).contains(ref.path("secretKeyRef").path("key").asText())) {
                    problem(w, container + ": env " + e.path("name").asText() + " refers to a missing Secret key");
                }
            }
            if (ref.has("configMapKeyRef")) {
                String cm = ref.path("configMapKeyRef").path("name").asText();
                if (!configMaps.getOrDefault(cm, Map.of()).containsKey(ref.path("configMapKeyRef").path("key").asText())) {
                    problem(w, container + ": env " + e.path("name").asText() + " refers to a missing ConfigMap key");
                }
            }
        }
        for (String probe : List.of("startupProbe", "readinessProbe", "livenessProbe")) {
            JsonNode get = c.path(probe).path("httpGet");
            if (get.isMissingNode()) {
                problem(w, container + ": no " + probe + " on the health endpoints");
                continue;
            }
            String expected = probe.equals("readinessProbe") ? "/ready" : "/health";
            if (!get.path("path").asText().equals(expected)) {
                problem(w, container + ": " + probe + " should GET " + expected + ", not " + get.path("path").asText());
            }
            if (!hasPort(w, get.path("port"))) {
                problem(w, container + ": " + probe + " port " + get.path("port").asText() + " is not a container port");
            }
        }
        if (c.path("securityContext").path("readOnlyRootFilesystem").asBoolean()) {
            boolean tmp = false;
            for (JsonNode m : c.path("volumeMounts")) {
                JsonNode v = volumes.get(m.path("name").asText());
                tmp |= m.path("mountPath").asText().equals("/tmp") && v != null && v.has("emptyDir");
            }
            if (!tmp) {
                problem(w, container + ": a read-only root file system needs an emptyDir on /tmp (the JVM writes there)");
            }
        }
        JsonNode args = c.path("args");
        if (args.size() > 0 && Set.of("gateway", "worker").contains(args.get(0).asText())) {
            new QuireContainer(w, c, volumes).check();
        }
    }

    JsonNode find(String kind, String name) {
        return objects.stream().filter(o -> kind(o).equals(kind) && name(o).equals(name)).findFirst().orElse(null);
    }

    // ---------------------------------------------------------------------------------------------
    // A quire gateway or worker container and its configuration

    private final class QuireContainer {
        final JsonNode workload;
        final JsonNode container;
        final Map<String, JsonNode> volumes;
        final String command;
        final String label;

        QuireContainer(JsonNode workload, JsonNode container, Map<String, JsonNode> volumes) {
            this.workload = workload;
            this.container = container;
            this.volumes = volumes;
            this.command = container.path("args").get(0).asText();
            this.label = container.path("name").asText() + " (quire " + command + ")";
        }

        void problem(String text) {
            ManifestChecks.this.problem(workload, label + ": " + text);
        }

        /** The volume mounted where {@code path} lies, and the path inside it; null when none is. */
        Map.Entry<JsonNode, String> mountOf(String path) {
            for (JsonNode m : container.path("volumeMounts")) {
                String at = m.path("mountPath").asText().replaceFirst("/$", "") + "/";
                if (path.startsWith(at) && volumes.containsKey(m.path("name").asText())) {
                    return Map.entry(volumes.get(m.path("name").asText()), path.substring(at.length()));
                }
            }
            return null;
        }

        void check() {
            List<String> args = new ArrayList<>();
            container.path("args").forEach(a -> args.add(a.asText()));
            int at = args.indexOf("--config");
            if (at < 0 || at + 1 >= args.size()) {
                problem("no --config FILE argument");
                return;
            }
            Map.Entry<JsonNode, String> mount = mountOf(args.get(at + 1));
            if (mount == null || !mount.getKey().has("configMap")) {
                problem("--config " + args.get(at + 1) + " is not in a mounted ConfigMap");
                return;
            }
            String text = configMaps.getOrDefault(mount.getKey().path("configMap").path("name").asText(), Map.of())
                    .get(mount.getValue());
            if (text == null) {
                problem("the ConfigMap mounted for --config has no key " + mount.getValue());
                return;
            }
            Map<String, String> env = new HashMap<>();
            for (JsonNode e : container.path("env")) {
                String field = e.path("valueFrom").path("fieldRef").path("fieldPath").asText();
                env.put(e.path("name").asText(), field.equals("status.podIP") ? "10.1.2.3" : e.path("value").asText());
            }
            if (!"10.1.2.3".equals(env.get("QUIRE_CLUSTER_INTERFACE"))) {
                problem("QUIRE_CLUSTER_INTERFACE must come from the pod's address (fieldRef status.podIP)");
            }
            Options options = parse(text, args, at, env);
            if (options != null) {
                checkOptions(options);
            }
        }

        /** The command's options after applying the configuration as the command line does; null on failure. */
        Options parse(String text, List<String> args, int configAt, Map<String, String> env) {
            Path file;
            try {
                file = Files.createTempFile("quire-config", ".yaml");
                Files.writeString(file, text);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            try {
                List<String> local = new ArrayList<>(args);
                local.set(configAt + 1, file.toString());
                String[] argv = local.toArray(String[]::new);
                CommandLine cli = QuireCli.commandLine();
                CommandLine sub = cli.getSubcommands().get(command);
                Set<String> known = new LinkedHashSet<>();
                sub.getCommandSpec().options().forEach(o -> known.add(o.longestName().replaceFirst("^-+", "")));
                JsonNode yaml = Yaml.documents(text).stream().findFirst().orElse(Yaml.object());
                List<String> keys = new ArrayList<>();
                yaml.fieldNames().forEachRemaining(keys::add);
                for (String key : keys) {
                    if (!known.contains(key)) {
                        problem("config key '" + key + "' is not an option of quire " + command);
                    }
                }
                if (keys.contains("cluster-interface")) {
                    problem("cluster-interface differs per pod: it must come from QUIRE_CLUSTER_INTERFACE, not the ConfigMap");
                }
                ConfigDefaults defaults = ConfigDefaults.from(argv, env);
                defaults.validate(cli);
                cli.setDefaultValueProvider(defaults);
                cli.parseArgs(argv);
                return new Options(sub.getCommandSpec());
            } catch (CommandLine.ParameterException | IllegalArgumentException e) {
                problem("the configuration does not parse: " + e.getMessage());
                return null;
            } finally {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException ignored) {
                    // a temporary file
                }
            }
        }

        void checkOptions(Options o) {
            // Files the configuration names are mounted, from a Secret that has them.
            for (String fileOption : command.equals("gateway") ? List.of("cluster-secret-file", "api-keys-file")
                    : List.of("cluster-secret-file")) {
                Object value = o.value(fileOption);
                if (value == null) {
                    if (fileOption.equals("cluster-secret-file")) {
                        problem("no cluster-secret-file: the cluster secret must come from a Secret");
                    }
                    continue;
                }
                Map.Entry<JsonNode, String> mount = mountOf(value.toString());
                if (mount == null || !mount.getKey().has("secret")) {
                    problem(fileOption + " " + value + " is not in a mounted Secret");
                } else if (!secretPaths(mount.getKey()).contains(mount.getValue())) {
                    problem(fileOption + " " + value + ": the mounted Secret has no key " + mount.getValue());
                }
            }
            if (command.equals("worker")) {
                Object model = o.value("model");
                String image = container.path("image").asText();
                if (model == null) {
                    if (!image.startsWith("quire/demo")) {
                        problem("no model: only the demo image carries one");
                    }
                } else {
                    Map.Entry<JsonNode, String> mount = mountOf(model.toString());
                    if (mount == null || !mount.getKey().has("persistentVolumeClaim")) {
                        problem("model " + model + " is not on a mounted models volume");
                    }
                }
                String device = o.value("device").toString();
                int gpus = container.path("resources").path("limits").path("nvidia.com/gpu").asInt(0);
                if (device.startsWith("cuda:") && Integer.parseInt(device.substring(5)) >= gpus) {
                    problem("device " + device + " but the container's limits grant " + gpus + " GPU(s)");
                }
                if (gpus > 0 && !device.startsWith("cuda:")) {
                    problem("the container has a GPU but the worker runs on " + device);
                }
                expectPort(o, "port", "data-plane");
                expectPort(o, "metrics-port", "http");
            } else {
                expectPort(o, "http-port", "http");
                expectPort(o, "grpc-port", "grpc");
            }
            expectPort(o, "cluster-port", "hazelcast");
            checkDiscovery(o);
            checkGracePeriod(o);
        }

        Set<String> secretPaths(JsonNode volume) {
            String secret = volume.path("secret").path("secretName").asText();
            if (!volume.path("secret").has("items")) {
                return secrets.getOrDefault(secret, Set.of());
            }
            Set<String> paths = new LinkedHashSet<>();
            volume.path("secret").path("items").forEach(i -> paths.add(i.path("path").asText()));
            return paths;
        }

        void expectPort(Options o, String option, String portName) {
            Integer declared = containerPort(container, portName);
            int value = ((Number) o.value(option)).intValue();
            if (declared == null || declared != value) {
                problem(option + " is " + value + " but container port '" + portName + "' is " + declared);
            }
        }

        void checkDiscovery(Options o) {
            Object dns = o.value("kubernetes-service-dns");
            if (dns == null) {
                problem("no kubernetes-service-dns: members could not find each other");
                return;
            }
            Matcher m = Pattern.compile("([a-z0-9-]+)\\.([a-z0-9-]+)\\.svc\\.cluster\\.local").matcher(dns.toString());
            if (!m.matches()) {
                problem("kubernetes-service-dns " + dns + " is not SERVICE.NAMESPACE.svc.cluster.local");
                return;
            }
            if (!m.group(2).equals(namespace)) {
                problem("kubernetes-service-dns " + dns + " names namespace " + m.group(2) + ", the objects live in "
                        + namespace);
            }
            JsonNode service = find("Service", m.group(1));
            if (service == null) {
                problem("kubernetes-service-dns " + dns + ": no Service " + m.group(1));
                return;
            }
            JsonNode spec = service.path("spec");
            if (!spec.path("clusterIP").asText().equals("None") || !spec.path("publishNotReadyAddresses").asBoolean()) {
                problem("Service " + m.group(1) + " must be headless and publish not-ready addresses (members join "
                        + "before they are ready)");
            }
            if (!selects(map(spec.path("selector")), podLabels(workload))) {
                problem("Service " + m.group(1) + " does not select this pod");
            }
            int clusterPort = ((Number) o.value("cluster-port")).intValue();
            boolean portOk = false;
            for (JsonNode p : spec.path("ports")) {
                portOk |= p.path("port").asInt() == clusterPort;
            }
            if (!portOk) {
                problem("Service " + m.group(1) + " has no port " + clusterPort + " (the members' cluster-port)");
            }
        }

        void checkGracePeriod(Options o) {
            long drain = ((Duration) o.value("drain-timeout")).toSeconds();
            long preStop = 0;
            JsonNode hook = container.path("lifecycle").path("preStop").path("exec").path("command");
            if (hook.size() == 2 && hook.get(0).asText().equals("sleep")) {
                preStop = Long.parseLong(hook.get(1).asText());
            } else if (!hook.isMissingNode()) {
                problem("preStop hook " + hook + " is not a sleep; its length cannot be checked");
            }
            long grace = pod(workload).path("spec").path("terminationGracePeriodSeconds").asLong(30);
            if (grace < preStop + drain + 5) {
                problem("terminationGracePeriodSeconds " + grace + " is shorter than preStop (" + preStop
                        + " s) + drain-timeout (" + drain + " s) + 5 s to exit");
            }
        }
    }

    /** A parsed command's option values by name without dashes. */
    record Options(CommandLine.Model.CommandSpec spec) {
        Object value(String name) {
            CommandLine.Model.OptionSpec o = spec.findOption("--" + name);
            if (o == null) {
                throw new AssertionError("quire " + spec.name() + " has no option --" + name);
            }
            return o.getValue();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Services, budgets, policies

    private void checkService(JsonNode s) {
        Map<String, String> selector = map(s.path("spec").path("selector"));
        List<JsonNode> selected = selected(selector);
        if (selected.isEmpty()) {
            problem(s, "selector " + selector + " selects no workload's pods");
        }
        for (JsonNode p : s.path("spec").path("ports")) {
            JsonNode target = p.has("targetPort") ? p.path("targetPort") : p.path("port");
            for (JsonNode w : selected) {
                if (!hasPort(w, target)) {
                    problem(s, "port " + p.path("name").asText() + ": targetPort " + target.asText()
                            + " is not a port of " + describe(w));
                }
            }
        }
    }

    private void checkBudget(JsonNode b) {
        Map<String, String> selector = map(b.path("spec").path("selector").path("matchLabels"));
        if (selected(selector).size() != 1) {
            problem(b, "selector " + selector + " selects " + selected(selector).size() + " workloads, not one");
        }
    }

    private void checkPolicy(JsonNode p) {
        Map<String, String> selector = map(p.path("spec").path("podSelector").path("matchLabels"));
        List<JsonNode> selected = selected(selector);
        if (selected.isEmpty()) {
            problem(p, "podSelector " + selector + " selects no workload's pods");
        }
        for (JsonNode rule : p.path("spec").path("ingress")) {
            for (JsonNode from : rule.path("from")) {
                if (from.has("podSelector") && !from.has("namespaceSelector")
                        && selected(map(from.path("podSelector").path("matchLabels"))).isEmpty()) {
                    problem(p, "ingress from podSelector " + from.path("podSelector") + " selects no workload's pods");
                }
            }
            for (JsonNode port : rule.path("ports")) {
                for (JsonNode w : selected) {
                    if (!hasPort(w, port.path("port"))) {
                        problem(p, "ingress port " + port.path("port").asText() + " is not a port of " + describe(w));
                    }
                }
            }
        }
    }
}
