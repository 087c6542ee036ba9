package dev.quire.loadtest.cluster;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Groups of requests that share a long prompt prefix (token ids, so the prefix is exactly
 * {@code prefixTokens} long), each with a short unique suffix. The first request of each group
 * runs alone and seeds some worker's prefix cache; the others follow, interleaved across groups,
 * from {@code concurrency} clients. Measures what the workers computed and the clients' TTFT.
 */
final class SharedPrefixWorkload {
    /** What one run cost the cluster, from the workers' own counters, and how it felt to clients. */
    record Result(int followers, double prefillTokens, double hitTokens, List<Double> followerTtftMillis) {
        double followerHitShare(int prefixTokens) {
            return hitTokens / ((double) followers * prefixTokens);
        }

        double ttftPercentile(double p) {
            List<Double> sorted = new ArrayList<>(followerTtftMillis);
            Collections.sort(sorted);
            return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100 * sorted.size()) - 1));
        }
    }

    final int groups;
    final int perGroup;
    final int prefixTokens;
    final int suffixTokens;
    final int outputTokens;
    final int concurrency;
    final long seed;

    SharedPrefixWorkload(int groups, int perGroup, int prefixTokens, int suffixTokens, int outputTokens,
                         int concurrency, long seed) {
        this.groups = groups;
        this.perGroup = perGroup;
        this.prefixTokens = prefixTokens;
        this.suffixTokens = suffixTokens;
        this.outputTokens = outputTokens;
        this.concurrency = concurrency;
        this.seed = seed;
    }

    Result run(ClusterClient client, List<String> workerMetrics) throws Exception {
        Random random = new Random(seed);
        List<int[]> prefixes = new ArrayList<>();
        for (int g = 0; g < groups; g++) {
            prefixes.add(random.ints(prefixTokens, 3, 500).toArray());
        }
        double queries0 = sum(workerMetrics, "quire_prefix_cache_queries_total");
        double hits0 = sum(workerMetrics, "quire_prefix_cache_hits_total");
        int cachedBefore = cachedBlocks(client);
        for (int[] prefix : prefixes) {
            client.greedy(prompt(prefix, random), outputTokens);
        }
        // The seeds' blocks must be in the cluster's prefix index before the followers are placed.
        int seeded = groups * (prefixTokens / 16);
        ClusterClient.await("the seeded prefixes published", 20, () -> cachedBlocks(client) >= cachedBefore + seeded);
        double queries1 = sum(workerMetrics, "quire_prefix_cache_queries_total");
        double hits1 = sum(workerMetrics, "quire_prefix_cache_hits_total");

        ConcurrentLinkedQueue<int[]> followers = new ConcurrentLinkedQueue<>();
        for (int i = 1; i < perGroup; i++) {
            for (int[] prefix : prefixes) {
                followers.add(prompt(prefix, random));
            }
        }
        int count = followers.size();
        List<Double> ttft = Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int c = 0; c < concurrency; c++) {
                done.add(pool.submit(() -> {
                    int[] p;
                    while ((p = followers.poll()) != null) {
                        ttft.add(client.greedy(p, outputTokens).ttftMillis());
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(300, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        double queries2 = sum(workerMetrics, "quire_prefix_cache_queries_total");
        double hits2 = sum(workerMetrics, "quire_prefix_cache_hits_total");
        double followerHits = hits2 - hits1;
        return new Result(count, (queries2 - queries0) - (hits2 - hits0), followerHits, ttft);
    }

    private int[] prompt(int[] prefix, Random random) {
        int[] p = new int[prefix.length + suffixTokens];
        System.arraycopy(prefix, 0, p, 0, prefix.length);
        for (int i = prefix.length; i < p.length; i++) {
            p[i] = 3 + random.nextInt(497);
        }
        return p;
    }

    private static double sum(List<String> metricsAddresses, String metric) throws Exception {
        double total = 0;
        for (String a : metricsAddresses) {
            total += ClusterClient.scrape(a, metric);
        }
        return total;
    }

    private static int cachedBlocks(ClusterClient client) {
        try {
            int n = 0;
            for (JsonNode w : client.getJson("/cluster").get("workers")) {
                n += w.get("cached_prefix_blocks").asInt();
            }
            return n;
        } catch (Exception e) {
            return -1;
        }
    }
}
