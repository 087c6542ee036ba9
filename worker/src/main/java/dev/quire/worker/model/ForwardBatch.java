package dev.quire.worker.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The flattened input of one forward pass: the new tokens of many sequences (decodes and prefill
 * chunks together), where their K/V go in the paged cache, and what each sequence attends over.
 *
 * <p>Tokens are ordered by attention group: sequences with one new token (decodes) first, then
 * sequences with several (prefill chunks). Each group runs its attention as one padded batched
 * matmul, so the work grows with the number of tokens, not with the number of sequences.
 *
 * @param tokenIds    the new tokens, grouped as described above
 * @param positions   position of each token in its sequence
 * @param slotMapping cache slot (block * blockSize + offset) where each token's K/V are written
 * @param groups      the attention groups, covering the tokens in order
 * @param sampleRows  rows (token indices) whose logits are wanted, one per sampling sequence
 * @param sampleSeqs  for each sample row, the index of its sequence in the order they were added
 */
public record ForwardBatch(int[] tokenIds, int[] positions, int[] slotMapping, List<AttentionGroup> groups,
                           int[] sampleRows, int[] sampleSeqs) {

    public int numTokens() {
        return tokenIds.length;
    }

    /**
     * Sequences that attend together.
     *
     * @param tokenOffset    index of the group's first token in the batch
     * @param numTokens      tokens in the group
     * @param queryLens      new tokens of each sequence
     * @param startPositions position of each sequence's first new token
     * @param maxQueryLen    the longest query in the group (the padded query length)
     * @param maxBlocks      the most blocks any sequence of the group attends over (the padded width)
     * @param blockTables    [numSeqs x maxBlocks] physical block ids, row-major, padded with 0
     */
    public record AttentionGroup(int tokenOffset, int numTokens, int[] queryLens, int[] startPositions,
                                 int maxQueryLen, int maxBlocks, long[] blockTables) {
        public int numSeqs() {
            return queryLens.length;
        }

        /** True when every sequence has the same query length, so no padding is needed. */
        public boolean uniform() {
            return numTokens == maxQueryLen * queryLens.length;
        }
    }

    /** Collects sequences in any order and lays them out by group. */
    public static final class Builder {
        private final int blockSize;
        private final List<Entry> entries = new ArrayList<>();

        private record Entry(int index, int startPosition, int[] tokenIds, int[] slotMapping, int[] blockTable,
                             boolean samples) {
        }

        public Builder(int blockSize) {
            this.blockSize = blockSize;
        }

        /**
         * Adds one sequence's work.
         *
         * @param startPosition position of the first of {@code tokenIds}
         * @param tokenIds      new tokens to compute
         * @param slotMapping   cache slot of each new token
         * @param blockTable    blocks covering positions [0, startPosition + tokenIds.length)
         * @param samples       whether logits are wanted for this sequence's last new token
         */
        public Builder add(int startPosition, int[] tokenIds, int[] slotMapping, int[] blockTable, boolean samples) {
            if (tokenIds.length == 0 || slotMapping.length != tokenIds.length) {
                throw new IllegalArgumentException("need one slot per token and at least one token");
            }
            int context = startPosition + tokenIds.length;
            if ((long) blockTable.length * blockSize < context) {
                throw new IllegalArgumentException("block table of " + blockTable.length + " blocks cannot hold "
                        + context + " positions");
            }
            entries.add(new Entry(entries.size(), startPosition, tokenIds, slotMapping, blockTable, samples));
            return this;
        }

        public boolean isEmpty() {
            return entries.isEmpty();
        }

        public ForwardBatch build() {
            List<Entry> decodes = new ArrayList<>();
            List<Entry> prefills = new ArrayList<>();
            int total = 0;
            for (Entry e : entries) {
                (e.tokenIds.length == 1 ? decodes : prefills).add(e);
                total += e.tokenIds.length;
            }
            int[] tokens = new int[total];
            int[] positions = new int[total];
            int[] slots = new int[total];
            List<AttentionGroup> groups = new ArrayList<>(2);
            int samples = (int) entries.stream().filter(Entry::samples).count();
            int[] sampleRows = new int[samples];
            int[] sampleSeqs = new int[samples];
            int offset = 0;
            int sampleCount = 0;
            for (List<Entry> group : List.of(decodes, prefills)) {
                if (group.isEmpty()) {
                    continue;
                }
                int groupOffset = offset;
                int n = group.size();
                int[] queryLens = new int[n];
                int[] starts = new int[n];
                int maxQuery = 0;
                int maxBlocks = 0;
                for (int i = 0; i < n; i++) {
                    Entry e = group.get(i);
                    int len = e.tokenIds.length;
                    System.arraycopy(e.tokenIds, 0, tokens, offset, len);
                    System.arraycopy(e.slotMapping, 0, slots, offset, len);
                    for (int j = 0; j < len; j++) {
                        positions[offset + j] = e.startPosition + j;
                    }
                    queryLens[i] = len;
                    starts[i] = e.startPosition;
                    maxQuery = Math.max(maxQuery, len);
                    maxBlocks = Math.max(maxBlocks, blocksFor(e.startPosition + len));
                    offset += len;
                    if (e.samples) {
                        sampleRows[sampleCount] = offset - 1;
                        sampleSeqs[sampleCount] = e.index;
                        sampleCount++;
                    }
                }
                long[] tables = new long[n * maxBlocks];
                for (int i = 0; i < n; i++) {
                    Entry e = group.get(i);
                    int used = blocksFor(e.startPosition + e.tokenIds.length);
                    for (int b = 0; b < used; b++) {
                        tables[i * maxBlocks + b] = e.blockTable[b];
                    }
                }
                groups.add(new AttentionGroup(groupOffset, offset - groupOffset, queryLens, starts, maxQuery,
                        maxBlocks, tables));
            }
            return new ForwardBatch(tokens, positions, slots, List.copyOf(groups), sampleRows, sampleSeqs);
        }

        private int blocksFor(int positions) {
            return (positions + blockSize - 1) / blockSize;
        }
    }

    @Override
    public String toString() {
        return "ForwardBatch[tokens=" + tokenIds.length + ", groups=" + groups.size() + ", samples="
                + Arrays.toString(sampleSeqs) + "]";
    }
}
