package dev.quire.scheduler.kv;

/**
 * Allocation policy of the paged KV cache: gives sequences blocks as their positions grow, serves prompt prefixes
 * from the prefix cache on admission, registers blocks in the cache once they are full and computed, and releases
 * blocks.
 *
 * <p>Blocks are allocated lazily, exactly {@code ceil(tokens / blockSize)} per sequence, and every allocating call is
 * all-or-nothing: when the pool cannot supply every block asked for, nothing changes and the call reports failure, so
 * the caller can preempt or stop admitting without rolling back.
 */
public final class KvCacheManager {

    private final BlockPool pool;
    private final int blockSize;
    // log2(blockSize) when it is a power of two, else -1: the planner maps positions to slots for every token of
    // every step, and a shift is an order of magnitude cheaper than an integer division.
    private final int blockShift;
    private final boolean prefixCaching;
    private final BlockHasher hasher;
    // Ids of the prefix hits found by the last lookup; reused to keep admission allocation-free.
    private int[] hitScratch = new int[16];
    private long prefixQueryTokens;
    private long prefixHitTokens;

    /**
     * @param prefixCaching when false, admission never looks up the cache and computed blocks are never registered
     */
    public KvCacheManager(int numBlocks, int blockSize, boolean prefixCaching, BlockHasher hasher) {
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be > 0, got " + blockSize);
        }
        if (hasher == null) {
            throw new IllegalArgumentException("hasher must not be null");
        }
        this.pool = new BlockPool(numBlocks);
        this.blockSize = blockSize;
        this.blockShift = Integer.bitCount(blockSize) == 1 ? Integer.numberOfTrailingZeros(blockSize) : -1;
        this.prefixCaching = prefixCaching;
        this.hasher = hasher;
    }

    public BlockPool pool() {
        return pool;
    }

    public int blockSize() {
        return blockSize;
    }

    public boolean prefixCaching() {
        return prefixCaching;
    }

    /** Tokens looked up in the prefix cache by successful admissions. */
    public long prefixQueryTokens() {
        return prefixQueryTokens;
    }

    /** Of {@link #prefixQueryTokens()}, those served from the cache. */
    public long prefixHitTokens() {
        return prefixHitTokens;
    }

    /** Blocks needed to hold {@code numTokens} positions. */
    public int blocksFor(int numTokens) {
        int rounded = numTokens + blockSize - 1;
        return blockShift >= 0 ? rounded >>> blockShift : rounded / blockSize;
    }

    /**
     * The KV slot of {@code position} for a sequence with this block table:
     * {@code blockTable[position / blockSize] * blockSize + position % blockSize}.
     */
    public int slotOf(int[] blockTable, int position) {
        if (blockShift >= 0) {
            return (blockTable[position >>> blockShift] << blockShift) | (position & (blockSize - 1));
        }
        return blockTable[position / blockSize] * blockSize + position % blockSize;
    }

    /**
     * Admits a sequence that holds no blocks: takes the longest chain of cached full blocks of
     * {@code tokens[0, length)} (at most {@code (length - 1) / blockSize} blocks, so that at least the last token is
     * left to compute) plus fresh blocks covering the next {@code min(tokenBudget, length - hitTokens)} positions.
     *
     * @return the number of tokens served from the cache (a multiple of blockSize), or -1 if the pool cannot supply
     *     the blocks, in which case nothing changed
     */
    public int admit(SequenceBlocks blocks, int[] tokens, int length, int tokenBudget) {
        if (blocks.numBlocks() != 0) {
            throw new IllegalStateException("sequence already holds " + blocks.numBlocks() + " blocks");
        }
        if (length <= 0 || tokenBudget <= 0) {
            throw new IllegalArgumentException("length and tokenBudget must be > 0");
        }
        int numHits = prefixCaching ? findCachedPrefix(blocks, tokens, length) : 0;
        int hitTokens = numHits * blockSize;
        int tokensToSchedule = Math.min(tokenBudget, length - hitTokens);
        int newBlocks = blocksFor(hitTokens + tokensToSchedule) - numHits;
        // Reviving a free cached block consumes a free block just like allocating one.
        int revived = 0;
        for (int i = 0; i < numHits; i++) {
            if (pool.refCount(hitScratch[i]) == 0) {
                revived++;
            }
        }
        if (newBlocks + revived > pool.numFreeBlocks()) {
            return -1;
        }
        for (int i = 0; i < numHits; i++) {
            pool.touch(hitScratch[i]);
            blocks.append(hitScratch[i]);
        }
        blocks.setNumCacheSettledBlocks(numHits);
        for (int i = 0; i < newBlocks; i++) {
            blocks.append(pool.allocate());
        }
        if (prefixCaching) {
            prefixQueryTokens += length;
            prefixHitTokens += hitTokens;
        }
        return hitTokens;
    }

    /**
     * Grows the block table to cover {@code numTokens} positions.
     *
     * @return false, changing nothing, when the pool lacks free blocks
     */
    public boolean allocateSlots(SequenceBlocks blocks, int numTokens) {
        int needed = blocksFor(numTokens) - blocks.numBlocks();
        if (needed <= 0) {
            return true;
        }
        if (needed > pool.numFreeBlocks()) {
            return false;
        }
        for (int i = 0; i < needed; i++) {
            blocks.append(pool.allocate());
        }
        return true;
    }

    /**
     * Registers in the prefix cache every full block whose positions all lie below {@code numComputedTokens} and that
     * is not registered yet. Blocks whose content is already cached elsewhere stay uncached; the sequence adopts the
     * cached key so its later blocks chain onto it.
     */
    public void cacheComputedBlocks(SequenceBlocks blocks, int[] tokens, int numComputedTokens) {
        if (!prefixCaching) {
            return;
        }
        int fullBlocks = Math.min(blocksFor(numComputedTokens + 1) - 1, blocks.numBlocks());
        for (int b = blocks.numCacheSettledBlocks(); b < fullBlocks; b++) {
            BlockHash key = b < blocks.numKeys()
                    ? blocks.key(b)
                    : hasher.hash(b == 0 ? null : blocks.key(b - 1), tokens, b * blockSize, blockSize);
            blocks.setKey(b, pool.cache(blocks.rawBlockId(b), key));
        }
        if (fullBlocks > blocks.numCacheSettledBlocks()) {
            blocks.setNumCacheSettledBlocks(fullBlocks);
        }
    }

    /**
     * Releases all blocks of a sequence, last block first: freed blocks queue up for eviction in that order, so a
     * sequence's tail (least likely to be shared) is evicted before its prefix.
     */
    public void free(SequenceBlocks blocks) {
        for (int i = blocks.numBlocks() - 1; i >= 0; i--) {
            pool.free(blocks.rawBlockId(i));
        }
        blocks.clearBlocks();
    }

    /** Fills {@link #hitScratch} with the cached blocks of the longest cached prefix; returns their number. */
    private int findCachedPrefix(SequenceBlocks blocks, int[] tokens, int length) {
        int maxHits = (length - 1) / blockSize;
        if (hitScratch.length < maxHits) {
            hitScratch = new int[Math.max(maxHits, hitScratch.length * 2)];
        }
        BlockHash parent = null;
        int hits = 0;
        while (hits < maxHits) {
            BlockHash key = hits < blocks.numKeys()
                    ? blocks.key(hits)
                    : hasher.hash(parent, tokens, hits * blockSize, blockSize);
            int blockId = pool.cachedBlock(key);
            if (blockId < 0) {
                break;
            }
            BlockHash canonical = pool.hashOf(blockId);
            blocks.setKey(hits, canonical);
            hitScratch[hits++] = blockId;
            parent = canonical;
        }
        return hits;
    }
}
