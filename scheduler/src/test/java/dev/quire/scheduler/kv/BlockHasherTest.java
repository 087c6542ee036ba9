package dev.quire.scheduler.kv;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class BlockHasherTest {

    private static final int[] TOKENS = {11, 12, 13, 14, 21, 22, 23, 24};

    @Test
    void isDeterministic() {
        BlockHash a = new BlockHasher(9).hash(null, TOKENS, 0, 4);
        BlockHash b = new BlockHasher(9).hash(null, TOKENS, 0, 4);

        assertThat(a.value()).isEqualTo(b.value());
        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
    }

    @Test
    void chainsOntoTheParent() {
        BlockHasher hasher = new BlockHasher(0);
        BlockHash first = hasher.hash(null, TOKENS, 0, 4);
        BlockHash second = hasher.hash(first, TOKENS, 4, 4);
        BlockHash secondAsFirst = hasher.hash(null, TOKENS, 4, 4);
        BlockHash otherParent = hasher.hash(null, new int[] {11, 12, 13, 15}, 0, 4);
        BlockHash secondUnderOtherParent = hasher.hash(otherParent, TOKENS, 4, 4);

        assertThat(second.parent()).isSameAs(first);
        assertThat(second.value()).isNotEqualTo(secondAsFirst.value());
        assertThat(second.value()).isNotEqualTo(secondUnderOtherParent.value());
        assertThat(second).isNotEqualTo(secondAsFirst).isNotEqualTo(secondUnderOtherParent);
    }

    @Test
    void everyTokenAndItsOrderMatter() {
        BlockHasher hasher = new BlockHasher(0);
        long base = hasher.hash(null, new int[] {1, 2, 3}, 0, 3).value();

        assertThat(hasher.hash(null, new int[] {1, 2, 4}, 0, 3).value()).isNotEqualTo(base);
        assertThat(hasher.hash(null, new int[] {2, 1, 3}, 0, 3).value()).isNotEqualTo(base);
        assertThat(hasher.hash(null, new int[] {1, 2}, 0, 2).value()).isNotEqualTo(base);
    }

    @Test
    void saltChangesTheHashAndEquality() {
        BlockHash unsalted = new BlockHasher(0).hash(null, TOKENS, 0, 4);
        BlockHash salted = new BlockHasher(1).hash(null, TOKENS, 0, 4);

        assertThat(salted.value()).isNotEqualTo(unsalted.value());
        assertThat(salted).isNotEqualTo(unsalted);
    }

    @Test
    void copiesTheTokens() {
        int[] tokens = {1, 2};
        BlockHash key = new BlockHasher(0).hash(null, tokens, 0, 2);
        tokens[0] = 99;

        assertThat(key.tokenIds()).containsExactly(1, 2);
        assertThat(key).isEqualTo(new BlockHasher(0).hash(null, new int[] {1, 2}, 0, 2));
    }

    @Test
    void collidingHashesNeverCompareEqualForDifferentPrefixes() {
        BlockHasher colliding = new BlockHasher(0, (parent, tokens, from, length, salt) -> 42L);
        int[] a = {1, 1, 5, 5};
        int[] b = {2, 2, 5, 5};
        BlockHash a0 = colliding.hash(null, a, 0, 2);
        BlockHash b0 = colliding.hash(null, b, 0, 2);
        BlockHash a1 = colliding.hash(a0, a, 2, 2);
        BlockHash b1 = colliding.hash(b0, b, 2, 2);

        assertThat(a0.value()).isEqualTo(b0.value()).isEqualTo(a1.value()).isEqualTo(b1.value());
        assertThat(a0).isNotEqualTo(b0);
        // Same value, same tokens, but different prefixes: must not match.
        assertThat(a1).isNotEqualTo(b1);
    }

    @Test
    void collisionCannotServeABlockComputedForAnotherPrefix() {
        // The dangerous case: a's first block is evicted, b registers an equal-hash first block, and a's second
        // block (same tokens as b's second block) is still cached. A value-only chain would serve it to b.
        BlockHasher colliding = new BlockHasher(0, (parent, tokens, from, length, salt) -> 42L);
        BlockPool pool = new BlockPool(3);
        int[] a = {1, 1, 5, 5};
        int[] b = {2, 2, 5, 5};
        BlockHash a0 = colliding.hash(null, a, 0, 2);
        BlockHash a1 = colliding.hash(a0, a, 2, 2);
        int blockA0 = pool.allocate();
        int blockA1 = pool.allocate();
        pool.cache(blockA0, a0);
        pool.cache(blockA1, a1);
        pool.free(blockA0);
        pool.free(blockA1);
        pool.allocate(); // block 2, never cached
        assertThat(pool.allocate()).isEqualTo(blockA0); // evicts a0 only

        BlockHash b0 = colliding.hash(null, b, 0, 2);
        pool.cache(blockA0, b0);
        BlockHash b1 = colliding.hash(b0, b, 2, 2);

        assertThat(pool.cachedBlock(b0)).isEqualTo(blockA0);
        assertThat(pool.cachedBlock(b1)).isEqualTo(-1);
        assertThat(pool.cachedBlock(a1)).isEqualTo(blockA1);
    }
}
