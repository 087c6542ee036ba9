package dev.quire.scheduler.kv;

/**
 * The free blocks of a {@link BlockPool}, least recently freed first.
 *
 * <p>An intrusive doubly linked list over block ids kept in two index arrays, so that push-to-tail, pop-from-head
 * and removal of any block from the middle (a cached block revived by a prefix hit) are all O(1) with no
 * allocation. Index {@code capacity} is a sentinel that is both the list's head and tail anchor.
 */
final class FreeBlockQueue {

    private static final int ABSENT = -1;

    private final int sentinel;
    private final int[] next;
    private final int[] prev;
    private int size;

    /** Creates a queue holding every block {@code 0 .. capacity-1}, in ascending order. */
    FreeBlockQueue(int capacity) {
        sentinel = capacity;
        next = new int[capacity + 1];
        prev = new int[capacity + 1];
        next[sentinel] = sentinel;
        prev[sentinel] = sentinel;
        for (int id = 0; id < capacity; id++) {
            linkBefore(id, sentinel);
        }
    }

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    boolean contains(int id) {
        return prev[id] != ABSENT;
    }

    /** Removes and returns the least recently freed block; the queue must not be empty. */
    int pollFirst() {
        int id = next[sentinel];
        if (id == sentinel) {
            throw new IllegalStateException("no free blocks");
        }
        unlink(id);
        return id;
    }

    /** The block {@link #pollFirst()} would return, or -1 when empty. */
    int peekFirst() {
        int id = next[sentinel];
        return id == sentinel ? -1 : id;
    }

    /** Appends a block as the most recently freed one. */
    void addLast(int id) {
        if (contains(id)) {
            throw new IllegalStateException("block " + id + " is already free");
        }
        linkBefore(id, sentinel);
    }

    /** Removes a block from anywhere in the queue. */
    void remove(int id) {
        if (!contains(id)) {
            throw new IllegalStateException("block " + id + " is not free");
        }
        unlink(id);
    }

    /** Writes the queue in order (head first) into {@code out}; for tests and diagnostics. */
    int[] toArray() {
        int[] out = new int[size];
        int i = 0;
        for (int id = next[sentinel]; id != sentinel; id = next[id]) {
            out[i++] = id;
        }
        return out;
    }

    private void linkBefore(int id, int successor) {
        int predecessor = prev[successor];
        next[predecessor] = id;
        prev[id] = predecessor;
        next[id] = successor;
        prev[successor] = id;
        size++;
    }

    private void unlink(int id) {
        int predecessor = prev[id];
        int successor = next[id];
        next[predecessor] = successor;
        prev[successor] = predecessor;
        prev[id] = ABSENT;
        next[id] = ABSENT;
        size--;
    }
}
