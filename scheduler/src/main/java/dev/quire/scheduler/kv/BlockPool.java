package dev.quire.scheduler.kv;

import java.util.HashMap;
import java.util.Map;

/**
 * The fixed set of physical KV blocks, with reference counts, an LRU free queue and the prefix-cache index.
 *
 * <p>All {@code numBlocks} blocks exist from the start (ids {@code 0 .. numBlocks-1}; none is reserved). A block
 * with reference count 0 is <em>free</em> and sits in the free queue: {@link #free} appends at the tail and
 * {@link #allocate} takes from the head, so the block evicted for reuse is always the least recently freed one. A
 * free block that still carries a {@link BlockHash} stays findable through {@link #cachedBlock} until it is taken
 * for reuse; {@link #touch} revives it (ref count up, out of the free queue). Every operation is O(1).
 */
public final class BlockPool {

    private final int numBlocks;
    private final int[] refCounts;
    private final BlockHash[] hashes;
    private final FreeBlockQueue freeQueue;
    // At most one block per key: a second block with equal content is simply left uncached.
    private final Map<BlockHash, Integer> cachedBlocks = new HashMap<>();

    public BlockPool(int numBlocks) {
        if (numBlocks <= 0) {
            throw new IllegalArgumentException("numBlocks must be > 0, got " + numBlocks);
        }
        this.numBlocks = numBlocks;
        this.refCounts = new int[numBlocks];
        this.hashes = new BlockHash[numBlocks];
        this.freeQueue = new FreeBlockQueue(numBlocks);
    }

    public int numBlocks() {
        return numBlocks;
    }

    /** Blocks with reference count 0, cached or not: all of them can be handed out by {@link #allocate}. */
    public int numFreeBlocks() {
        return freeQueue.size();
    }

    /** Blocks held by at least one sequence. */
    public int numUsedBlocks() {
        return numBlocks - freeQueue.size();
    }

    /** Number of blocks indexed by the prefix cache (in use or free). */
    public int numCachedBlocks() {
        return cachedBlocks.size();
    }

    public int refCount(int blockId) {
        return refCounts[checkId(blockId)];
    }

    /**
     * Chain values of cached blocks, at most {@code limit}, those of blocks in use first (they are
     * the least likely to be evicted soon).
     */
    public long[] cachedHashValues(int limit) {
        long[] out = new long[Math.min(limit, cachedBlocks.size())];
        int n = 0;
        for (int pass = 0; pass < 2 && n < out.length; pass++) {
            for (Map.Entry<BlockHash, Integer> e : cachedBlocks.entrySet()) {
                if (n == out.length) {
                    break;
                }
                boolean inUse = refCount(e.getValue()) > 0;
                if (inUse == (pass == 0)) {
                    out[n++] = e.getKey().value();
                }
            }
        }
        return out;
    }

    /** The key this block is cached under, or {@code null}. */
    public BlockHash hashOf(int blockId) {
        return hashes[checkId(blockId)];
    }

    /** Whether the block is in the free queue. */
    public boolean isFree(int blockId) {
        return freeQueue.contains(checkId(blockId));
    }

    /**
     * Takes the least recently freed block, drops its cache entry if it had one, and returns it with reference
     * count 1.
     *
     * @throws IllegalStateException when no block is free
     */
    public int allocate() {
        int id = freeQueue.pollFirst();
        BlockHash evicted = hashes[id];
        if (evicted != null) {
            cachedBlocks.remove(evicted);
            hashes[id] = null;
        }
        refCounts[id] = 1;
        return id;
    }

    /** Adds a reference to a block, reviving it from the free queue if it was free (a prefix-cache hit). */
    public void touch(int blockId) {
        checkId(blockId);
        if (refCounts[blockId] == 0) {
            freeQueue.remove(blockId);
        }
        refCounts[blockId]++;
    }

    /**
     * Drops one reference; at zero the block goes to the tail of the free queue, keeping its cache entry so a later
     * prefix lookup can still revive it.
     */
    public void free(int blockId) {
        checkId(blockId);
        if (refCounts[blockId] <= 0) {
            throw new IllegalStateException("block " + blockId + " is already free");
        }
        if (--refCounts[blockId] == 0) {
            freeQueue.addLast(blockId);
        }
    }

    /** The block cached under {@code key}, or -1. */
    public int cachedBlock(BlockHash key) {
        Integer id = cachedBlocks.get(key);
        return id == null ? -1 : id;
    }

    /**
     * Offers an in-use, fully computed block to the prefix cache under {@code key} and returns the canonical key
     * for that content: {@code key} itself if it was registered, or the equal key already in the cache (whose block
     * then stays the one served; this block simply remains uncached).
     */
    public BlockHash cache(int blockId, BlockHash key) {
        checkId(blockId);
        if (refCounts[blockId] == 0) {
            throw new IllegalStateException("only an in-use block can be cached, block " + blockId + " is free");
        }
        if (hashes[blockId] != null) {
            throw new IllegalStateException("block " + blockId + " is already cached");
        }
        Integer existing = cachedBlocks.putIfAbsent(key, blockId);
        if (existing != null) {
            return hashes[existing];
        }
        hashes[blockId] = key;
        return key;
    }

    /** The free queue in eviction order (next victim first); for tests and diagnostics, O(numFreeBlocks). */
    public int[] freeQueueSnapshot() {
        return freeQueue.toArray();
    }

    private int checkId(int blockId) {
        if (blockId < 0 || blockId >= numBlocks) {
            throw new IndexOutOfBoundsException("block id " + blockId + " outside [0, " + numBlocks + ")");
        }
        return blockId;
    }
}
