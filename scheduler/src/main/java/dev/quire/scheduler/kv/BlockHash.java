package dev.quire.scheduler.kv;

import java.util.Arrays;

/**
 * The identity of one full block of tokens <em>together with everything before it</em>: the key under which a
 * computed block is found in the prefix cache.
 *
 * <p>{@link #value()} is a 64-bit chained hash of (parent's value, this block's token ids, cache salt) and only picks
 * the hash bucket. Equality is exact: same salt, same token ids, and the <em>same parent object</em>. Because the
 * parent is compared by identity, and every parent is itself such an exact key, equal keys always describe the very
 * same token prefix, by induction from the first block. A hash collision therefore costs at most a bucket probe; it
 * can never serve K/V computed for different tokens. The price is that two keys for the same prefix built from
 * different (but equal) parent objects do not match; {@link KvCacheManager} avoids that by always chaining onto the
 * canonical key held by the cache.
 *
 * <p>Instances are immutable.
 */
public final class BlockHash {

    private final long value;
    private final BlockHash parent;
    private final int[] tokenIds;
    private final long salt;

    BlockHash(long value, BlockHash parent, int[] tokenIds, long salt) {
        this.value = value;
        this.parent = parent;
        this.tokenIds = tokenIds;
        this.salt = salt;
    }

    /** The 64-bit chained hash. */
    public long value() {
        return value;
    }

    /** The key of the previous block, or {@code null} for a sequence's first block. */
    public BlockHash parent() {
        return parent;
    }

    /** The block's token ids (a copy). */
    public int[] tokenIds() {
        return tokenIds.clone();
    }

    /** The cache salt this key was built with. */
    public long salt() {
        return salt;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        // Parent by identity: see the class comment for why that makes equality exact and cheap.
        return o instanceof BlockHash other
                && value == other.value
                && parent == other.parent
                && salt == other.salt
                && Arrays.equals(tokenIds, other.tokenIds);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(value);
    }

    @Override
    public String toString() {
        return "BlockHash[" + Long.toHexString(value) + ", " + tokenIds.length + " tokens]";
    }
}
