package dev.quire.loadtest.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The console's cluster view on a real multi-process cluster: {@code ./quire gateway} and two
 * {@code ./quire worker}s started through the launcher, as ClusterIT starts them. The view lists
 * every worker {@code GET /cluster} lists, with live load, and drops a worker that dies.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConsoleClusterIT {
    static final String SECRET = "console-cluster-it-" + System.nanoTime();
    static final Map<String, String> ENV = Map.of("QUIRE_CLUSTER_SECRET", SECRET);

    final List<QuireProcess> processes = new ArrayList<>();
    final List<QuireProcess> workers = new ArrayList<>();
    String base;
    Browser browser;

    @BeforeAll
    void start() throws Exception {
        Browser.assumeInstalled(ConsoleClusterIT.class);
        int clusterPort = QuireProcess.freePort();
        int http = QuireProcess.freePort();
        base = "http://127.0.0.1:" + http;
        QuireProcess gateway = QuireProcess.start("console-gateway", ENV, "gateway", "--host", "127.0.0.1",
                "--grpc-port", "" + QuireProcess.freePort(), "--http-port", "" + http, "--cluster-port",
                "" + clusterPort, "--cluster-name", SECRET);
        processes.add(gateway);
        gateway.awaitLog("Gateway listening", 120);
        for (int i = 0; i < 2; i++) {
            QuireProcess w = QuireProcess.start("console-worker-" + i, ENV, "worker", "--join",
                    "127.0.0.1:" + clusterPort, "--cluster-name", SECRET, "--cluster-port", "" + (clusterPort + 100),
                    "--kv-cache-bytes", "64m");
            processes.add(w);
            workers.add(w);
        }
        ClusterClient.await("2 ready workers in GET /cluster", 180, () -> workerIds().size() == 2);
        browser = new Browser(1280, 900);
    }

    @AfterAll
    void stop() throws Exception {
        if (browser != null) {
            browser.close();
        }
        for (QuireProcess p : processes) {
            p.close();
        }
    }

    /** The ids of the ready workers GET /cluster lists (empty while the gateway cannot answer). */
    TreeSet<String> workerIds() {
        TreeSet<String> ids = new TreeSet<>();
        try {
            for (JsonNode w : Browser.getJson(base + "/cluster", null).get("workers")) {
                if (w.get("state").asText().equals("ready")) {
                    ids.add(w.get("id").asText());
                }
            }
        } catch (Exception e) {
            ids.clear();
        }
        return ids;
    }

    /** The worker ids of the view's rows, read in one go (the table is redrawn on every refresh). */
    @SuppressWarnings("unchecked")
    TreeSet<String> rowsShown() {
        return new TreeSet<>((List<String>) browser.script("return Array.from(document.querySelectorAll("
                + "'#workers-table tr[data-worker-id]'), r => r.dataset.workerId);"));
    }

    @Test
    void theClusterViewListsEveryWorkerWithLiveLoadAndDropsOneThatDies() throws Exception {
        browser.open(base + "/#cluster");
        TreeSet<String> ids = workerIds();
        browser.await("both workers in the view", 30, d -> rowsShown().equals(ids));
        assertThat(browser.text("#cluster-mode")).isEqualTo("1 gateway, 2 workers");
        assertThat(browser.all("#gateways-table tr[data-gateway-id]")).hasSize(1);

        // Twenty seconds of traffic through the gateway from four clients: the view shows requests
        // running on the workers, their completed counts and the charts' data.
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Future<Integer>> load = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            int client = i;
            load.add(pool.submit(() -> {
                int n = 0;
                while (System.nanoTime() < until) {
                    Browser.postJson(base + "/v1/completions", null, Browser.JSON.createObjectNode()
                            .put("prompt", "Once upon a time, friend " + client + "-" + n)
                            .put("max_tokens", 40 + 40 * ((client + n) % 4)).put("ignore_eos", true));
                    n++;
                }
                return n;
            }));
        }
        browser.await("requests running in the view", 60, d -> Integer.parseInt(
                browser.text("#card-running .stat-value").replace(",", "")) > 0);
        browser.await("completions counted on both workers", 30, d -> Boolean.TRUE.equals(browser.script(
                "const cells = Array.from(document.querySelectorAll('#workers-table td[data-label=Completed]'));"
                        + "return cells.length === 2 && cells.every(c => c.textContent !== '0');")));
        browser.await("the throughput chart drawn", 15, d -> !browser.all(".chart-line.c1[d*='L']").isEmpty());
        assertThat(browser.text("#card-throughput .stat-value")).doesNotStartWith("0.0");
        long remaining = TimeUnit.NANOSECONDS.toMillis(until - System.nanoTime()) - 2000;
        if (remaining > 0) {
            Thread.sleep(remaining);
        }
        browser.screenshot("console-cluster");
        for (Future<Integer> f : load) {
            assertThat(f.get(120, TimeUnit.SECONDS)).isPositive();
        }
        pool.shutdown();
        assertThat(browser.consoleProblems()).isEmpty();

        // One worker dies: the view follows GET /cluster within a refresh or two.
        workers.get(1).kill();
        assertThat(workers.get(1).awaitExit(20)).isTrue();
        ClusterClient.await("GET /cluster without the dead worker", 30, () -> workerIds().size() == 1);
        TreeSet<String> left = workerIds();
        browser.await("the view without the dead worker", 10, d -> rowsShown().equals(left));
        assertThat(browser.text("#card-workers .stat-value")).isEqualTo("1 ready");
        assertThat(browser.text("#cluster-mode")).isEqualTo("1 gateway, 1 worker");
    }
}
