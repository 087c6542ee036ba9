package dev.quire.scheduler.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class BlockPoolTest {

    private final BlockHasher hasher = new BlockHasher(0);

    private BlockHash key(int... tokens) {
        return hasher.hash(null, tokens, 0, tokens.length);
    }

    @Test
    void startsWithEveryBlockFreeAndAllocatesInIdOrder() {
        BlockPool pool = new BlockPool(4);

        assertThat(pool.numFreeBlocks()).isEqualTo(4);
        assertThat(pool.numUsedBlocks()).isZero();
        assertThat(pool.freeQueueSnapshot()).containsExactly(0, 1, 2, 3);
        assertThat(pool.allocate()).isZero();
        assertThat(pool.allocate()).isEqualTo(1);
        assertThat(pool.refCount(0)).isEqualTo(1);
        assertThat(pool.numFreeBlocks()).isEqualTo(2);
        assertThat(pool.numUsedBlocks()).isEqualTo(2);
    }

    @Test
    void rejectsNonPositiveSize() {
        assertThatThrownBy(() -> new BlockPool(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("numBlocks");
    }

    @Test
    void freedBlocksGoToTheTailSoTheLeastRecentlyFreedIsReusedFirst() {
        BlockPool pool = new BlockPool(5);
        for (int i = 0; i < 5; i++) {
            pool.allocate();
        }
        pool.free(3);
        pool.free(0);
        pool.free(4);

        assertThat(pool.freeQueueSnapshot()).containsExactly(3, 0, 4);
        assertThat(pool.allocate()).isEqualTo(3);
        assertThat(pool.allocate()).isZero();
        assertThat(pool.allocate()).isEqualTo(4);
    }

    @Test
    void allocatingFromAnEmptyPoolFails() {
        BlockPool pool = new BlockPool(1);
        pool.allocate();

        assertThatThrownBy(pool::allocate).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void referenceCountsTrackOwnersAndOnlyTheLastFreeReleases() {
        BlockPool pool = new BlockPool(2);
        int id = pool.allocate();
        pool.touch(id);
        pool.touch(id);
        assertThat(pool.refCount(id)).isEqualTo(3);

        pool.free(id);
        pool.free(id);
        assertThat(pool.isFree(id)).isFalse();
        pool.free(id);
        assertThat(pool.isFree(id)).isTrue();
        assertThat(pool.refCount(id)).isZero();
        assertThatThrownBy(() -> pool.free(id)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void freedCachedBlockStaysFindableAndCanBeRevived() {
        BlockPool pool = new BlockPool(3);
        int id = pool.allocate();
        BlockHash key = key(7, 8);
        assertThat(pool.cache(id, key)).isSameAs(key);
        pool.free(id);

        assertThat(pool.cachedBlock(key)).isEqualTo(id);
        pool.touch(id);
        assertThat(pool.refCount(id)).isEqualTo(1);
        assertThat(pool.isFree(id)).isFalse();
        assertThat(pool.freeQueueSnapshot()).doesNotContain(id);
        assertThat(pool.hashOf(id)).isSameAs(key);
    }

    @Test
    void reuseEvictsTheLeastRecentlyFreedCachedBlockAndDropsItsHash() {
        BlockPool pool = new BlockPool(3);
        BlockHash[] keys = {key(1), key(2), key(3)};
        for (int i = 0; i < 3; i++) {
            assertThat(pool.allocate()).isEqualTo(i);
            pool.cache(i, keys[i]);
        }
        pool.free(1);
        pool.free(0);
        pool.free(2);
        assertThat(pool.numCachedBlocks()).isEqualTo(3);

        int reused = pool.allocate();

        assertThat(reused).isEqualTo(1);
        assertThat(pool.hashOf(1)).isNull();
        assertThat(pool.cachedBlock(keys[1])).isEqualTo(-1);
        assertThat(pool.cachedBlock(keys[0])).isZero();
        assertThat(pool.cachedBlock(keys[2])).isEqualTo(2);
        assertThat(pool.numCachedBlocks()).isEqualTo(2);
    }

    @Test
    void revivingACachedBlockProtectsItFromEviction() {
        BlockPool pool = new BlockPool(2);
        int a = pool.allocate();
        int b = pool.allocate();
        BlockHash key = key(5);
        pool.cache(a, key);
        pool.free(a);
        pool.free(b);

        pool.touch(a); // prefix hit
        assertThat(pool.allocate()).isEqualTo(b);
        assertThat(pool.cachedBlock(key)).isEqualTo(a);
    }

    @Test
    void secondBlockWithEqualContentStaysUncachedAndTheCanonicalKeyIsReturned() {
        BlockPool pool = new BlockPool(2);
        int first = pool.allocate();
        int second = pool.allocate();
        BlockHash key = key(4, 4);
        BlockHash equalKey = key(4, 4);
        pool.cache(first, key);

        assertThat(pool.cache(second, equalKey)).isSameAs(key);
        assertThat(pool.hashOf(second)).isNull();
        assertThat(pool.cachedBlock(equalKey)).isEqualTo(first);
    }

    @Test
    void onlyInUseUncachedBlocksCanBeCached() {
        BlockPool pool = new BlockPool(2);
        int id = pool.allocate();
        pool.cache(id, key(1));

        assertThatThrownBy(() -> pool.cache(id, key(2))).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> pool.cache(1, key(3))).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> pool.refCount(2)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    @Test
    void allocateAndFreeStayConstantTimeOnAHugePool() {
        // Two million operations on two million blocks: anything scanning the pool per operation would take hours.
        int numBlocks = 1 << 21;
        BlockPool pool = new BlockPool(numBlocks);
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            int[] held = new int[1024];
            for (int round = 0; round < 1000; round++) {
                for (int i = 0; i < held.length; i++) {
                    held[i] = pool.allocate();
                }
                for (int i = 0; i < held.length; i++) {
                    pool.free(held[i]);
                }
            }
        });
        assertThat(pool.numFreeBlocks()).isEqualTo(numBlocks);
    }
}
