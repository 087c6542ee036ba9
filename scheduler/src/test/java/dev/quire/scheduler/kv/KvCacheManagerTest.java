package dev.quire.scheduler.kv;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class KvCacheManagerTest {

    private static final int BLOCK = 4;

    private static KvCacheManager manager(int numBlocks, boolean prefixCaching) {
        return new KvCacheManager(numBlocks, BLOCK, prefixCaching, new BlockHasher(0));
    }

    private static int[] tokens(int from, int count) {
        return IntStream.range(from, from + count).toArray();
    }

    /** Admits and fully computes a sequence, as the scheduler would after its prefill. */
    private static SequenceBlocks computed(KvCacheManager kv, int[] tokens) {
        SequenceBlocks seq = new SequenceBlocks();
        assertThat(kv.admit(seq, tokens, tokens.length, Integer.MAX_VALUE)).isGreaterThanOrEqualTo(0);
        kv.cacheComputedBlocks(seq, tokens, tokens.length);
        return seq;
    }

    @Test
    void admissionAllocatesBlocksForTheScheduledChunkOnly() {
        KvCacheManager kv = manager(10, true);
        SequenceBlocks seq = new SequenceBlocks();

        int cached = kv.admit(seq, tokens(0, 20), 20, 6);

        assertThat(cached).isZero();
        assertThat(seq.numBlocks()).isEqualTo(2); // 6 tokens of 4 per block
        assertThat(kv.pool().numFreeBlocks()).isEqualTo(8);
        assertThat(kv.allocateSlots(seq, 12)).isTrue();
        assertThat(seq.numBlocks()).isEqualTo(3);
        assertThat(kv.allocateSlots(seq, 9)).isTrue();
        assertThat(seq.numBlocks()).isEqualTo(3);
    }

    @Test
    void allocationIsAllOrNothing() {
        KvCacheManager kv = manager(3, true);
        SequenceBlocks seq = new SequenceBlocks();

        assertThat(kv.admit(seq, tokens(0, 20), 20, 20)).isEqualTo(-1);
        assertThat(seq.numBlocks()).isZero();
        assertThat(kv.pool().numFreeBlocks()).isEqualTo(3);

        assertThat(kv.admit(seq, tokens(0, 20), 20, 8)).isZero();
        assertThat(kv.allocateSlots(seq, 13)).isFalse();
        assertThat(seq.numBlocks()).isEqualTo(2);
        assertThat(kv.pool().numFreeBlocks()).isEqualTo(1);
    }

    @Test
    void onlyFullComputedBlocksAreCached() {
        KvCacheManager kv = manager(10, true);
        int[] prompt = tokens(0, 10);
        SequenceBlocks seq = new SequenceBlocks();
        kv.admit(seq, prompt, 10, 10);

        kv.cacheComputedBlocks(seq, prompt, 7);
        assertThat(kv.pool().numCachedBlocks()).isEqualTo(1);
        kv.cacheComputedBlocks(seq, prompt, 10);
        assertThat(kv.pool().numCachedBlocks()).isEqualTo(2);
        assertThat(seq.numKeys()).isEqualTo(2);
        assertThat(seq.key(1).parent()).isSameAs(seq.key(0));
        assertThat(kv.pool().hashOf(seq.blockId(2))).isNull();
    }

    @Test
    void sharedPrefixIsServedFromTheCacheAndReferenceCounted() {
        KvCacheManager kv = manager(10, true);
        int[] first = tokens(0, 10);
        SequenceBlocks a = computed(kv, first);

        int[] second = first.clone();
        second[9] = 99; // differs only in the third, partial block
        SequenceBlocks b = new SequenceBlocks();
        int cached = kv.admit(b, second, 10, 100);

        assertThat(cached).isEqualTo(8);
        assertThat(b.blockId(0)).isEqualTo(a.blockId(0));
        assertThat(b.blockId(1)).isEqualTo(a.blockId(1));
        assertThat(b.blockId(2)).isNotEqualTo(a.blockId(2));
        assertThat(kv.pool().refCount(a.blockId(0))).isEqualTo(2);
        assertThat(kv.prefixQueryTokens()).isEqualTo(20);
        assertThat(kv.prefixHitTokens()).isEqualTo(8);
    }

    @Test
    void lookupLeavesTheLastTokenToCompute() {
        KvCacheManager kv = manager(10, true);
        int[] prompt = tokens(0, 8); // exactly two full blocks
        computed(kv, prompt);

        SequenceBlocks again = new SequenceBlocks();
        // All 8 tokens are cached, but the last one must be recomputed for its logits: only block 0 is a hit.
        assertThat(kv.admit(again, prompt, 8, 100)).isEqualTo(4);
        assertThat(again.numBlocks()).isEqualTo(2);
    }

    @Test
    void freedPrefixIsRevivedFromTheFreeQueue() {
        KvCacheManager kv = manager(4, true);
        int[] prompt = tokens(0, 9);
        SequenceBlocks a = computed(kv, prompt);
        int[] blocksOfA = a.blockIds();
        kv.free(a);
        assertThat(kv.pool().numFreeBlocks()).isEqualTo(4);

        SequenceBlocks b = new SequenceBlocks();
        assertThat(kv.admit(b, prompt, 9, 100)).isEqualTo(8);
        assertThat(b.blockId(0)).isEqualTo(blocksOfA[0]);
        assertThat(b.blockId(1)).isEqualTo(blocksOfA[1]);
        assertThat(kv.pool().numFreeBlocks()).isEqualTo(1);
    }

    @Test
    void revivedHitsCountAgainstFreeBlocks() {
        KvCacheManager kv = manager(3, true);
        int[] prompt = tokens(0, 9);
        SequenceBlocks a = computed(kv, prompt); // blocks 0,1 cached, 2 partial
        kv.free(a);
        SequenceBlocks filler = new SequenceBlocks();
        kv.admit(filler, tokens(100, 1), 1, 1); // takes the uncached block freed first

        int[] longer = tokens(0, 13);
        SequenceBlocks b = new SequenceBlocks();
        // 2 hits (both free) + 2 new blocks > 2 free blocks.
        assertThat(kv.admit(b, longer, 13, 100)).isEqualTo(-1);
        assertThat(kv.pool().numFreeBlocks()).isEqualTo(2);
        assertThat(kv.pool().numCachedBlocks()).isEqualTo(2);
    }

    @Test
    void freeingReleasesTheTailFirstSoItIsEvictedBeforeThePrefix() {
        KvCacheManager kv = manager(3, true);
        int[] prompt = tokens(0, 12);
        SequenceBlocks a = computed(kv, prompt);
        int[] table = a.blockIds();

        kv.free(a);

        assertThat(kv.pool().freeQueueSnapshot()).containsExactly(table[2], table[1], table[0]);
        assertThat(a.numBlocks()).isZero();
        assertThat(a.numKeys()).isEqualTo(3); // keys survive for re-admission
    }

    @Test
    void disabledPrefixCachingNeitherLooksUpNorRegisters() {
        KvCacheManager kv = manager(10, false);
        int[] prompt = tokens(0, 10);
        SequenceBlocks a = computed(kv, prompt);
        kv.free(a);

        SequenceBlocks b = new SequenceBlocks();
        assertThat(kv.admit(b, prompt, 10, 100)).isZero();
        assertThat(kv.pool().numCachedBlocks()).isZero();
        assertThat(kv.prefixQueryTokens()).isZero();
        assertThat(kv.prefixHitTokens()).isZero();
    }

    @Test
    void duplicateComputationAdoptsTheCachedKeySoLaterBlocksStillChain() {
        KvCacheManager kv = manager(10, true);
        int[] prompt = tokens(0, 9);
        // Both admitted before either registered anything: no hits, separate blocks.
        SequenceBlocks a = new SequenceBlocks();
        SequenceBlocks b = new SequenceBlocks();
        kv.admit(a, prompt, 9, 100);
        kv.admit(b, prompt, 9, 100);
        kv.cacheComputedBlocks(a, prompt, 9);
        kv.cacheComputedBlocks(b, prompt, 9);

        assertThat(b.key(0)).isSameAs(a.key(0));
        assertThat(b.key(1)).isSameAs(a.key(1));
        assertThat(kv.pool().numCachedBlocks()).isEqualTo(2);
        assertThat(kv.pool().hashOf(b.blockId(0))).isNull();
    }

    @Test
    void collidingHashFunctionNeverServesAnotherPrefix() {
        KvCacheManager kv = new KvCacheManager(10, BLOCK, true,
                new BlockHasher(0, (parent, tokens, from, length, salt) -> 7L));
        computed(kv, new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9});

        SequenceBlocks other = new SequenceBlocks();
        assertThat(kv.admit(other, new int[] {1, 2, 3, 0, 5, 6, 7, 8, 9}, 9, 100)).isZero();
        SequenceBlocks sameFirstBlock = new SequenceBlocks();
        assertThat(kv.admit(sameFirstBlock, new int[] {1, 2, 3, 4, 5, 6, 7, 0, 9}, 9, 100)).isEqualTo(4);
    }
}
