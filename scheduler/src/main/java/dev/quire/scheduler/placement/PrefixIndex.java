package dev.quire.scheduler.placement;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The prefix-cache contents each worker published, as sets for fast lookup: built once per
 * published version of a worker's list, shared by every request placed until the next one.
 */
public final class PrefixIndex {
    private record Snapshot(long version, Set<Long> hashes) {
    }

    private final Map<String, Snapshot> byWorker = new ConcurrentHashMap<>();

    /** How many leading blocks of {@code chain} the worker holds, given its latest published hashes. */
    public int cachedBlocks(String workerId, long version, long[] published, long[] chain) {
        if (chain.length == 0) {
            return 0;
        }
        Snapshot s = byWorker.get(workerId);
        if (s == null || s.version() != version) {
            Set<Long> set = new HashSet<>(published.length * 2);
            for (long h : published) {
                set.add(h);
            }
            s = new Snapshot(version, set);
            byWorker.put(workerId, s);
        }
        int n = 0;
        while (n < chain.length && s.hashes().contains(chain[n])) {
            n++;
        }
        return n;
    }

    /** Forgets a worker that left. */
    public void remove(String workerId) {
        byWorker.remove(workerId);
    }
}
