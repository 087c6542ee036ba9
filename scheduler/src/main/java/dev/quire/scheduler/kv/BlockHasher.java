package dev.quire.scheduler.kv;

import java.util.Arrays;

/** Builds the chained {@link BlockHash} keys of full blocks for one cache salt. */
public final class BlockHasher {

    /** The parent hash used for a sequence's first block. */
    public static final long ROOT_PARENT_HASH = 0x51_7C_C1_B7_27_22_0A_95L;

    private final long salt;
    private final BlockHashFunction function;

    /** A hasher using {@link BlockHashFunction#DEFAULT}. */
    public BlockHasher(long salt) {
        this(salt, BlockHashFunction.DEFAULT);
    }

    /** A hasher with an explicit hash function (tests use a colliding one). */
    public BlockHasher(long salt, BlockHashFunction function) {
        if (function == null) {
            throw new IllegalArgumentException("function must not be null");
        }
        this.salt = salt;
        this.function = function;
    }

    public long salt() {
        return salt;
    }

    /**
     * Returns the key of the block holding {@code tokens[from, from + blockSize)}, chained onto {@code parent}
     * ({@code null} for the first block). The token ids are copied.
     */
    public BlockHash hash(BlockHash parent, int[] tokens, int from, int blockSize) {
        if (parent != null && parent.salt() != salt) {
            throw new IllegalArgumentException("parent was hashed with another salt");
        }
        long parentValue = parent == null ? ROOT_PARENT_HASH : parent.value();
        long value = function.hash(parentValue, tokens, from, blockSize, salt);
        return new BlockHash(value, parent, Arrays.copyOfRange(tokens, from, from + blockSize), salt);
    }

    /**
     * The chain values of the full blocks of {@code tokens} that a prefix-cache lookup can hit:
     * the first {@code (tokens.length - 1) / blockSize} blocks, as {@link KvCacheManager#admit}
     * leaves at least the last token to compute. A gateway matches these against the values
     * workers publish, with the same hashing as the workers' caches.
     */
    public long[] prefixChain(int[] tokens, int blockSize) {
        int blocks = tokens.length == 0 ? 0 : (tokens.length - 1) / blockSize;
        long[] out = new long[blocks];
        long parent = ROOT_PARENT_HASH;
        for (int b = 0; b < blocks; b++) {
            parent = function.hash(parent, tokens, b * blockSize, blockSize, salt);
            out[b] = parent;
        }
        return out;
    }
}
