package dev.quire.scheduler.kv;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** A gateway's prefix chain must name exactly the blocks a worker's cache holds for the same tokens. */
class PrefixChainTest {
    @Test
    void theGatewaysChainMatchesTheHashesTheWorkersCachePublishes() {
        int blockSize = 4;
        KvCacheManager cache = new KvCacheManager(64, blockSize, true, new BlockHasher(0L));
        int[] prompt = new Random(7).ints(23, 0, 500).toArray();
        SequenceBlocks blocks = new SequenceBlocks();
        assertThat(cache.admit(blocks, prompt, prompt.length, 1000)).isZero();
        cache.cacheComputedBlocks(blocks, prompt, prompt.length);

        long[] chain = new BlockHasher(0L).prefixChain(prompt, blockSize);
        assertThat(chain).hasSize((prompt.length - 1) / blockSize);
        Set<Long> published = new HashSet<>();
        for (long h : cache.pool().cachedHashValues(100)) {
            published.add(h);
        }
        for (long h : chain) {
            assertThat(published).contains(h);
        }
        // A prompt sharing only the first two blocks matches two blocks, then diverges.
        int[] other = prompt.clone();
        other[2 * blockSize] ^= 1;
        long[] otherChain = new BlockHasher(0L).prefixChain(other, blockSize);
        assertThat(published.contains(otherChain[1])).isTrue();
        assertThat(published.contains(otherChain[2])).isFalse();
        assertThat(new BlockHasher(1L).prefixChain(prompt, blockSize)[0]).as("another salt, another chain")
                .isNotEqualTo(chain[0]);
    }
}
