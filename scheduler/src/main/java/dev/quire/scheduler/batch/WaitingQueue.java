package dev.quire.scheduler.batch;

import java.util.PriorityQueue;

/**
 * Sequences waiting for admission, in the order they get it: every preempted sequence before every never-admitted
 * one (so recomputation is not starved by fresh arrivals), each group in {@link Sequence#SERVICE_ORDER}.
 */
final class WaitingQueue {

    private final PriorityQueue<Sequence> preempted = new PriorityQueue<>(Sequence.SERVICE_ORDER);
    private final PriorityQueue<Sequence> fresh = new PriorityQueue<>(Sequence.SERVICE_ORDER);

    /** Enqueues a WAITING or PREEMPTED sequence. */
    void add(Sequence seq) {
        switch (seq.status()) {
            case PREEMPTED -> preempted.add(seq);
            case WAITING -> fresh.add(seq);
            default -> throw new IllegalStateException("cannot queue " + seq);
        }
    }

    /** The next sequence to admit, or {@code null}. */
    Sequence peek() {
        Sequence head = preempted.peek();
        return head != null ? head : fresh.peek();
    }

    /** Removes and returns the next sequence to admit, or {@code null}. */
    Sequence poll() {
        Sequence head = preempted.poll();
        return head != null ? head : fresh.poll();
    }

    /** Removes a sequence from wherever it is queued (O(n); only on abort/finish of a waiting sequence). */
    void remove(Sequence seq) {
        if (!preempted.remove(seq)) {
            fresh.remove(seq);
        }
    }

    int size() {
        return preempted.size() + fresh.size();
    }

    boolean isEmpty() {
        return preempted.isEmpty() && fresh.isEmpty();
    }
}
