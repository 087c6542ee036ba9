package dev.quire.scheduler.kv;

import java.util.Arrays;

/**
 * The KV blocks of one sequence: its block table (physical block ids in position order) plus the canonical
 * prefix-cache keys of its leading full blocks.
 *
 * <p>The keys survive {@link KvCacheManager#free}: they depend only on the tokens, so a preempted sequence reuses them
 * when it is re-admitted instead of rehashing. Mutated only through {@link KvCacheManager}.
 */
public final class SequenceBlocks {

    private static final int[] NO_BLOCKS = new int[0];
    private static final BlockHash[] NO_KEYS = new BlockHash[0];

    private int[] blockIds = NO_BLOCKS;
    private int numBlocks;
    // keys[b] is the canonical key of block b's prefix; keys[b].parent() == keys[b - 1] always holds.
    private BlockHash[] keys = NO_KEYS;
    private int numKeys;
    // Leading blocks already dealt with by the prefix cache (hits, or computed blocks offered to it).
    private int numCacheSettledBlocks;
    // Read-only copy handed to step plans; rebuilt only when the table changes (every blockSize decode steps).
    private int[] snapshot = NO_BLOCKS;

    /** Number of blocks in the table. */
    public int numBlocks() {
        return numBlocks;
    }

    /** The physical id of the {@code index}-th block. */
    public int blockId(int index) {
        if (index < 0 || index >= numBlocks) {
            throw new IndexOutOfBoundsException("block index " + index + " outside [0, " + numBlocks + ")");
        }
        return blockIds[index];
    }

    /** A fresh copy of the block table. */
    public int[] blockIds() {
        return Arrays.copyOf(blockIds, numBlocks);
    }

    /**
     * The block table as an array shared until the table next changes, so consecutive decode steps don't copy it.
     * Callers must treat it as read-only.
     */
    public int[] sharedBlockTable() {
        if (snapshot.length != numBlocks) {
            snapshot = Arrays.copyOf(blockIds, numBlocks);
        }
        return snapshot;
    }

    /** Number of leading full blocks whose prefix-cache keys are known. */
    public int numKeys() {
        return numKeys;
    }

    /** The prefix-cache key of full block {@code index}. */
    public BlockHash key(int index) {
        if (index < 0 || index >= numKeys) {
            throw new IndexOutOfBoundsException("key index " + index + " outside [0, " + numKeys + ")");
        }
        return keys[index];
    }

    int numCacheSettledBlocks() {
        return numCacheSettledBlocks;
    }

    void setNumCacheSettledBlocks(int n) {
        numCacheSettledBlocks = n;
    }

    void append(int blockId) {
        if (numBlocks == blockIds.length) {
            blockIds = Arrays.copyOf(blockIds, Math.max(4, numBlocks * 2));
        }
        blockIds[numBlocks++] = blockId;
        // The snapshot's length no longer matches, so the next sharedBlockTable() call rebuilds it.
    }

    int rawBlockId(int index) {
        return blockIds[index];
    }

    /** Forgets the block table (the caller has released the blocks); the keys are kept. */
    void clearBlocks() {
        numBlocks = 0;
        numCacheSettledBlocks = 0;
        snapshot = NO_BLOCKS;
    }

    /**
     * Records the canonical key of full block {@code index} (at most {@link #numKeys()}). Replacing a key by a
     * different object drops the keys after it: they were chained onto the old object and would no longer match.
     */
    void setKey(int index, BlockHash key) {
        if (index == numKeys) {
            if (numKeys == keys.length) {
                keys = Arrays.copyOf(keys, Math.max(4, numKeys * 2));
            }
            keys[numKeys++] = key;
        } else if (keys[index] != key) {
            keys[index] = key;
            Arrays.fill(keys, index + 1, numKeys, null);
            numKeys = index + 1;
        }
    }
}
