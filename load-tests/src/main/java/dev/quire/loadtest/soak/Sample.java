package dev.quire.loadtest.soak;

/**
 * A reading of the server's gauges at {@code seconds} into the soak, during {@code phase} (warmup, load or
 * settle), with the client's count of requests in flight at that moment.
 */
public record Sample(double seconds, String phase, int clientInFlight, Gauges gauges) {
}
