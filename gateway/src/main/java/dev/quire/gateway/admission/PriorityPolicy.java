package dev.quire.gateway.admission;

/**
 * How a request's scheduling priority is settled (lower runs first): the server's
 * {@code --default-priority} and {@code --min-priority}, or an API key's own values from the keys file.
 *
 * @param defaultPriority the priority of a request that sets none
 * @param minPriority     the most urgent (lowest) priority a request may have; a request asking for a
 *                        lower number runs at this one instead (clamped, not refused, so a client
 *                        written for one server keeps working against a stricter one)
 */
public record PriorityPolicy(int defaultPriority, int minPriority) {
    /** Lowest (most urgent) priority a request may name. */
    public static final int MIN_VALUE = -1000;
    /** Highest (least urgent) priority a request may name. */
    public static final int MAX_VALUE = 1000;

    public PriorityPolicy {
        if (defaultPriority < MIN_VALUE || defaultPriority > MAX_VALUE) {
            throw new IllegalArgumentException("default priority must be in [" + MIN_VALUE + ", " + MAX_VALUE
                    + "], got " + defaultPriority);
        }
        if (minPriority < MIN_VALUE || minPriority > MAX_VALUE) {
            throw new IllegalArgumentException("min priority must be in [" + MIN_VALUE + ", " + MAX_VALUE
                    + "], got " + minPriority);
        }
        if (defaultPriority < minPriority) {
            throw new IllegalArgumentException("default priority " + defaultPriority
                    + " is below the min priority " + minPriority + " (more urgent than allowed)");
        }
    }

    /** Default 0; any priority in range may be asked for. */
    public static PriorityPolicy defaults() {
        return new PriorityPolicy(0, MIN_VALUE);
    }

    /**
     * The priority a request runs at.
     *
     * @param requested what the request asked for, in [{@link #MIN_VALUE}, {@link #MAX_VALUE}]; null for none
     */
    public int resolve(Integer requested) {
        return requested == null ? defaultPriority : Math.max(requested, minPriority);
    }
}
