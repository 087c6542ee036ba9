package dev.quire.loadtest.workload;

import java.util.Random;

/** Draws a dataset's entries in a seeded random order; after the last one, reshuffles and goes on. */
public final class DatasetWorkload implements Workload {
    private final Dataset dataset;
    private final Random random;
    private final int[] order;
    private int position;

    public DatasetWorkload(Dataset dataset, long seed) {
        this.dataset = dataset;
        this.random = new Random(seed);
        this.order = new int[dataset.entries().size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        shuffle();
    }

    @Override
    public RequestSpec next() {
        if (position == order.length) {
            shuffle();
        }
        return dataset.entries().get(order[position++]);
    }

    private void shuffle() {
        for (int i = order.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        position = 0;
    }
}
