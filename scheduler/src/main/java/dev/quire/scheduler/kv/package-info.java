/**
 * Paged KV cache bookkeeping: a fixed pool of physical blocks with reference counts and an LRU free queue
 * ({@link dev.quire.scheduler.kv.BlockPool}), chained block hashes for prefix caching
 * ({@link dev.quire.scheduler.kv.BlockHash}, {@link dev.quire.scheduler.kv.BlockHasher}), and the per-sequence
 * allocation policy on top of them ({@link dev.quire.scheduler.kv.KvCacheManager}).
 *
 * <p>Block ids are plain {@code int}s in {@code [0, numBlocks)}; the slot of position {@code p} of a sequence is
 * {@code blockTable[p / blockSize] * blockSize + p % blockSize}. No block is reserved as a "null" block: all
 * {@code numBlocks} blocks are usable.
 */
package dev.quire.scheduler.kv;
