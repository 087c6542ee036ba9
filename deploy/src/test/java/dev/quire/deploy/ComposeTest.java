package dev.quire.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quire.gateway.cli.ConfigDefaults;
import dev.quire.gateway.cli.QuireCli;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * deploy/compose.yaml and the Prometheus and Grafana files it mounts: the Quire services run the
 * images the build makes, with options their commands accept; the workers join the gateway; the
 * secret, scrape targets, data source and dashboard all point at what exists. (The container
 * tests run the Quire services themselves; Prometheus and Grafana cannot be pulled here.)
 */
class ComposeTest {
    static final Path DEPLOY = Images.ROOT.resolve("deploy");
    static final JsonNode COMPOSE = Yaml.document(DEPLOY.resolve("compose.yaml"));
    static final Pattern DEFAULTED = Pattern.compile("\\$\\{[A-Z_]+:-([^}]+)}");

    static JsonNode service(String name) {
        JsonNode s = COMPOSE.path("services").path(name);
        assertThat(s.isObject()).as("compose service %s", name).isTrue();
        return s;
    }

    /** An image, with ${VAR:-default} read as its default. */
    static String image(JsonNode service) {
        Matcher m = DEFAULTED.matcher(service.path("image").asText());
        return m.matches() ? m.group(1) : service.path("image").asText();
    }

    static List<String> list(JsonNode node) {
        List<String> out = new ArrayList<>();
        node.forEach(n -> out.add(n.asText()));
        return out;
    }

    /** The parsed options of a service's quire command, with its environment as the entry point leaves it. */
    static CommandLine.Model.CommandSpec options(JsonNode service) {
        List<String> args = list(service.path("command"));
        String command = args.get(0);
        Map<String, String> env = new LinkedHashMap<>(Yaml.map(service.path("environment")));
        if (command.equals("worker")) { // deploy/docker/entrypoint.sh: fixed ports in containers
            env.putIfAbsent("QUIRE_PORT", "7000");
            env.putIfAbsent("QUIRE_METRICS_PORT", "8000");
        }
        CommandLine cli = QuireCli.commandLine();
        CommandLine sub = cli.getSubcommands().get(command);
        Set<String> known = new HashSet<>();
        sub.getCommandSpec().options().forEach(o -> known.add(o.longestName().replaceFirst("^-+", "")));
        for (String var : env.keySet()) {
            if (var.startsWith("QUIRE_")) {
                String option = var.substring(6).toLowerCase().replace('_', '-');
                assertThat(known).as("%s is an option of quire %s", var, command).contains(option);
            }
        }
        String[] argv = args.toArray(String[]::new);
        ConfigDefaults defaults = ConfigDefaults.from(argv, env);
        defaults.validate(cli);
        cli.setDefaultValueProvider(defaults);
        cli.parseArgs(argv); // values must convert: a bad one throws
        return sub.getCommandSpec();
    }

    static Object value(CommandLine.Model.CommandSpec spec, String option) {
        return spec.findOption("--" + option).getValue();
    }

    static long seconds(String composeDuration) {
        Matcher m = Pattern.compile("(\\d+)s").matcher(composeDuration);
        assertThat(m.matches()).as("duration %s", composeDuration).isTrue();
        return Long.parseLong(m.group(1));
    }

    @Test
    void quireServicesRunTheBuiltImagesWithOptionsTheirCommandsAccept() {
        JsonNode gateway = service("gateway");
        JsonNode worker = service("worker");
        assertThat(image(gateway)).startsWith("quire/gateway:");
        assertThat(image(worker)).matches("quire/(demo|worker):.*");
        var g = options(gateway);
        var w = options(worker);

        // The workers join the gateway service on its cluster port.
        List<String> join = (List<String>) value(w, "join");
        assertThat(join).hasSize(1);
        String[] hostPort = join.get(0).split(":");
        assertThat(list(service(hostPort[0]).path("command"))).first().isEqualTo("gateway");
        assertThat(Integer.parseInt(hostPort[1])).isEqualTo(value(g, "cluster-port"));
        assertThat(worker.path("depends_on").path("gateway").path("condition").asText()).isEqualTo("service_healthy");

        // The public ports published are the gateway's.
        assertThat(list(gateway.path("ports"))).contains(value(g, "http-port") + ":" + value(g, "http-port"),
                value(g, "grpc-port") + ":" + value(g, "grpc-port"));

        // Both read the secret the cluster-secret service writes into the volume they mount.
        JsonNode maker = service("cluster-secret");
        assertThat(gateway.path("depends_on").path("cluster-secret").path("condition").asText())
                .isEqualTo("service_completed_successfully");
        String makerMount = mountOf(maker, "cluster-secret");
        for (var spec : List.of(g, w)) {
            JsonNode service = spec == g ? gateway : worker;
            String file = value(spec, "cluster-secret-file").toString();
            String mount = mountOf(service, "cluster-secret");
            assertThat(file).startsWith(mount + "/");
            assertThat(list(maker.path("entrypoint")).get(2)).contains(makerMount + file.substring(mount.length()));
            // docker stop's grace period covers the drain.
            assertThat(seconds(service.path("stop_grace_period").asText()))
                    .isGreaterThanOrEqualTo(((Duration) value(spec, "drain-timeout")).toSeconds() + 5);
        }
        assertThat(COMPOSE.path("volumes").has("cluster-secret")).isTrue();
    }

    /** Where a service mounts the named volume. */
    static String mountOf(JsonNode service, String volume) {
        for (String v : list(service.path("volumes"))) {
            String[] parts = v.split(":");
            if (parts[0].equals(volume)) {
                return parts[1];
            }
        }
        throw new AssertionError("the service mounts no volume " + volume);
    }

    /** Where a service mounts a file or folder of deploy/, and that it exists. */
    static Map<String, Path> binds(JsonNode service) {
        Map<String, Path> out = new LinkedHashMap<>();
        for (String v : list(service.path("volumes"))) {
            String[] parts = v.split(":");
            if (parts[0].startsWith("./")) {
                Path source = DEPLOY.resolve(parts[0]).normalize();
                assertThat(source).as("mounted %s", parts[0]).exists();
                out.put(parts[1], source);
            }
        }
        return out;
    }

    @Test
    void prometheusScrapesTheGatewayAndEveryWorker() {
        Map<String, Path> binds = binds(service("prometheus"));
        JsonNode config = Yaml.document(binds.get("/etc/prometheus/prometheus.yml"));
        var g = options(service("gateway"));
        var w = options(service("worker"));
        Map<String, JsonNode> jobs = new LinkedHashMap<>();
        config.path("scrape_configs").forEach(j -> jobs.put(j.path("job_name").asText(), j));
        assertThat(jobs).containsOnlyKeys("quire-gateway", "quire-worker");
        assertThat(list(jobs.get("quire-gateway").path("static_configs").get(0).path("targets")))
                .containsExactly("gateway:" + value(g, "http-port"));
        JsonNode dns = jobs.get("quire-worker").path("dns_sd_configs").get(0);
        assertThat(list(dns.path("names"))).containsExactly("worker");
        assertThat(dns.path("port").asInt()).isEqualTo(value(w, "metrics-port"));
    }

    @Test
    void grafanaProvisionsPrometheusAndTheQuireDashboard() throws Exception {
        JsonNode grafana = service("grafana");
        Map<String, Path> binds = binds(grafana);
        Path provisioning = binds.get("/etc/grafana/provisioning");
        JsonNode datasource = Yaml.document(provisioning.resolve("datasources/prometheus.yaml")).path("datasources").get(0);
        assertThat(datasource.path("url").asText()).isEqualTo("http://prometheus:9090");
        assertThat(list(service("prometheus").path("ports"))).contains("9090:9090");
        JsonNode provider = Yaml.document(provisioning.resolve("dashboards/quire.yaml")).path("providers").get(0);
        String dashboards = provider.path("options").path("path").asText();
        assertThat(binds).containsKey(dashboards);
        String home = Yaml.map(grafana.path("environment")).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH");
        assertThat(home).startsWith(dashboards + "/");
        Path file = binds.get(dashboards).resolve(home.substring(dashboards.length() + 1));
        JsonNode dashboard = new ObjectMapper().readTree(file.toFile());

        Set<String> jobs = Set.of("quire-gateway", "quire-worker");
        Set<Integer> ids = new HashSet<>();
        int queries = 0;
        for (JsonNode panel : dashboard.path("panels")) {
            assertThat(ids.add(panel.path("id").asInt())).as("panel ids are unique").isTrue();
            if (panel.path("type").asText().equals("row")) {
                continue;
            }
            assertThat(panel.path("datasource").path("uid").asText()).isEqualTo(datasource.path("uid").asText());
            for (JsonNode target : panel.path("targets")) {
                String expr = target.path("expr").asText();
                Matcher job = Pattern.compile("job=\"([^\"]+)\"").matcher(expr);
                assertThat(job.find()).as("%s selects a job", expr).isTrue();
                do {
                    assertThat(jobs).as("a job Prometheus scrapes").contains(job.group(1));
                } while (job.find());
                queries++;
            }
        }
        assertThat(queries).isGreaterThan(10);
        // The panels the dashboard must have (every metric it names is checked against live
        // containers by ContainerClusterIT).
        assertThat(dashboard.toString()).contains("quire_time_to_first_token_seconds_bucket",
                "quire_inter_token_latency_seconds_bucket", "quire_num_requests_running", "quire_num_requests_waiting",
                "quire_kv_cache_usage_perc", "quire_prefix_cache_hits_total", "quire_placements_total");
    }
}
