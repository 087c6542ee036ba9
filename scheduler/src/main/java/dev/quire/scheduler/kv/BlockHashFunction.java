package dev.quire.scheduler.kv;

/**
 * Hashes one block's token ids onto its parent block's hash. Pluggable so tests can force collisions;
 * {@link #DEFAULT} is what production uses.
 */
@FunctionalInterface
public interface BlockHashFunction {

    /**
     * Returns the hash of {@code tokens[from, from + length)} chained onto {@code parentHash}.
     *
     * @param parentHash the previous block's hash, or {@link BlockHasher#ROOT_PARENT_HASH} for the first block
     * @param salt       the cache salt; different salts must (with overwhelming probability) give different hashes
     */
    long hash(long parentHash, int[] tokens, int from, int length, long salt);

    /**
     * A 64-bit multiply-rotate hash over token pairs with a murmur-style final avalanche. Not cryptographic: it only
     * needs to spread keys, since {@link BlockHash} equality is exact anyway.
     */
    BlockHashFunction DEFAULT = (parentHash, tokens, from, length, salt) -> {
        final long p1 = 0x9E3779B185EBCA87L;
        final long p2 = 0xC2B2AE3D27D4EB4FL;
        long acc = (parentHash ^ 0x27D4EB2F165667C5L) * p1 + salt * p2 + length;
        int i = from;
        int end = from + length;
        for (; i + 1 < end; i += 2) {
            long pair = ((long) tokens[i] << 32) | (tokens[i + 1] & 0xFFFFFFFFL);
            acc = Long.rotateLeft(acc ^ (pair * p2), 31) * p1;
        }
        if (i < end) {
            acc = Long.rotateLeft(acc ^ ((tokens[i] & 0xFFFFFFFFL) * p2), 27) * p1;
        }
        acc ^= acc >>> 33;
        acc *= 0xFF51AFD7ED558CCDL;
        acc ^= acc >>> 33;
        acc *= 0xC4CEB9FE1A85EC53L;
        acc ^= acc >>> 33;
        return acc;
    };
}
