package dev.quire.gateway.admission;

/**
 * A token bucket refilled continuously at {@code perMinute} units per minute, holding at most one
 * minute's worth. Thread-safe.
 */
final class TokenBucket {
    private final double capacity;
    private final double perNano;
    private double available;
    private long last;

    TokenBucket(long perMinute, long nowNanos) {
        this.capacity = perMinute;
        this.perNano = perMinute / 60e9;
        this.available = perMinute;
        this.last = nowNanos;
    }

    /**
     * Takes {@code units} if they are available now and returns 0; otherwise takes nothing and
     * returns how many nanoseconds until they would be.
     */
    synchronized long tryTake(double units, long nowNanos) {
        refill(nowNanos);
        if (available >= units) {
            available -= units;
            return 0;
        }
        double missing = Math.min(units, capacity) - available;
        return Math.max(1, (long) Math.ceil(missing / perNano));
    }

    /**
     * Charges usage known only afterwards (generated tokens); the balance may go negative, which
     * delays later requests until it is paid back.
     */
    synchronized void charge(double units, long nowNanos) {
        refill(nowNanos);
        available -= units;
    }

    private void refill(long nowNanos) {
        available = Math.min(capacity, available + (nowNanos - last) * perNano);
        last = nowNanos;
    }
}
