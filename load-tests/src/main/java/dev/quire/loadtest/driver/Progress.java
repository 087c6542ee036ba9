package dev.quire.loadtest.driver;

/**
 * A snapshot of a run in progress, for a live progress line.
 *
 * @param label          the run's label
 * @param warmingUp      whether the unmeasured warm-up is still going
 * @param done           measured requests finished
 * @param total          measured requests planned (0 when bounded by duration)
 * @param failed         of those, how many failed or were truncated
 * @param inFlight       requests in flight now
 * @param elapsedSeconds seconds since measuring began
 * @param durationSeconds the planned duration in seconds (0 when bounded by count)
 */
public record Progress(String label, boolean warmingUp, int done, int total, int failed, int inFlight,
                       double elapsedSeconds, double durationSeconds) {
}
