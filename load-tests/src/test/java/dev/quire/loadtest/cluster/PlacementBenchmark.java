package dev.quire.loadtest.cluster;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Cache-aware placement against least-loaded and round-robin on the same shared-prefix workload:
 * one cluster of 3 workers with one gateway per policy (gateways share the workers), each policy
 * run with prefixes of its own so no run inherits another's cache. Reports the prompt tokens the
 * workers had to compute (prefill) and the clients' time to first token.
 *
 * <p>{@code load-tests/benchmarks/run-placement-benchmark.sh [REPORT]} builds and runs it.
 */
public final class PlacementBenchmark {
    static final String[] POLICIES = {"cache-aware", "least-loaded", "round-robin"};

    public static void main(String[] args) throws Exception {
        Path report = Path.of(args.length > 0 ? args[0] : "gateway/benchmarks/placement.md");
        String secret = "placement-benchmark-" + System.nanoTime();
        Map<String, String> env = Map.of("QUIRE_CLUSTER_SECRET", secret);
        String name = "placement-" + System.nanoTime();
        List<QuireProcess> processes = new ArrayList<>();
        List<ClusterClient> clients = new ArrayList<>();
        try {
            int clusterPort = QuireProcess.freePort();
            for (int i = 0; i < POLICIES.length; i++) {
                int grpc = QuireProcess.freePort();
                int http = QuireProcess.freePort();
                List<String> a = new ArrayList<>(List.of("gateway", "--host", "127.0.0.1", "--grpc-port", "" + grpc,
                        "--http-port", "" + http, "--cluster-name", name, "--placement", POLICIES[i],
                        "--cluster-port", "" + (i == 0 ? clusterPort : clusterPort + 10 + i)));
                if (i > 0) {
                    a.addAll(List.of("--join", "127.0.0.1:" + clusterPort));
                }
                QuireProcess g = QuireProcess.start("placement-gateway-" + POLICIES[i], env, a.toArray(String[]::new));
                processes.add(g);
                g.awaitLog("Gateway listening", 120);
                clients.add(new ClusterClient(grpc, http));
            }
            for (int w = 0; w < 3; w++) {
                processes.add(QuireProcess.start("placement-worker-" + w, env, "worker", "--join",
                        "127.0.0.1:" + clusterPort, "--cluster-name", name, "--cluster-port", "" + (clusterPort + 100),
                        "--kv-cache-bytes", "128m"));
            }
            ClusterClient.await("3 ready workers in every gateway's view", 300, () -> {
                for (ClusterClient c : clients) {
                    try {
                        if (c.getJson("/cluster").get("workers").size() < 3 || c.get("/v1/models").statusCode() != 200) {
                            return false;
                        }
                    } catch (Exception e) {
                        return false;
                    }
                }
                return true;
            });
            Thread.sleep(2000);
            List<String> metrics = new ArrayList<>();
            for (JsonNode w : clients.get(0).getJson("/cluster").get("workers")) {
                metrics.add(w.get("metrics_address").asText());
            }
            StringBuilder out = new StringBuilder("# Placement benchmark: cache-aware against least-loaded and round-robin\n\n")
                    .append("Command: `load-tests/benchmarks/run-placement-benchmark.sh` (from the repository root)  \n")
                    .append("Date: ").append(Instant.now().toString(), 0, 16).append("Z; machine: ")
                    .append(Runtime.getRuntime().availableProcessors()).append(" cores\n\n")
                    .append("One cluster: 3 `quire worker` processes (bundled stories260K model, CPU) and one `quire gateway`\n")
                    .append("per policy, all on this machine. Workload per policy: 8 groups of 12 requests; the requests\n")
                    .append("of a group share a 448-token prefix (token ids) and add 16 tokens of their own; 8 output\n")
                    .append("tokens each. The first request of each group runs alone and seeds one worker's cache; the\n")
                    .append("other 88 follow from 12 concurrent clients, groups interleaved. Each policy gets prefixes of\n")
                    .append("its own. Prefill tokens are the prompt tokens the workers computed (prefix-cache lookups\n")
                    .append("minus hits, from the workers' own counters), seeds included; hit share and TTFT are the\n")
                    .append("followers'.\n\n")
                    .append("| policy | followers | prefix tokens served from cache | prefill tokens computed | TTFT p50 (ms) | TTFT p90 (ms) | TTFT p99 (ms) |\n")
                    .append("|---|---:|---:|---:|---:|---:|---:|\n");
            for (int i = 0; i < POLICIES.length; i++) {
                SharedPrefixWorkload workload = new SharedPrefixWorkload(8, 12, 448, 16, 8, 12, 1000 + i);
                SharedPrefixWorkload.Result r = workload.run(clients.get(i), metrics);
                out.append(String.format(Locale.ROOT, "| %s | %d | %.1f%% | %.0f | %.1f | %.1f | %.1f |%n", POLICIES[i],
                        r.followers(), 100 * r.followerHitShare(448), r.prefillTokens(), r.ttftPercentile(50),
                        r.ttftPercentile(90), r.ttftPercentile(99)));
                System.out.print(out);
            }
            out.append("\nThe bundled model computes a 464-token prompt in a few milliseconds, so TTFT differences are\n")
                    .append("small here; the prefill column is what a larger model pays for in GPU time.\n");
            Files.createDirectories(report.toAbsolutePath().getParent());
            Files.writeString(report, out);
            System.out.println(out);
        } finally {
            for (ClusterClient c : clients) {
                c.close();
            }
            for (QuireProcess p : processes) {
                p.close();
            }
        }
    }
}
