package dev.quire.loadtest.soak;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * Judges a soak from its samples. It passes when every check does:
 * <ul>
 *   <li>memory plateaus: over the load phase, resident memory grows less than {@code maxGrowth} in the
 *       last third, and the heap's troughs less than {@code maxGrowth} of its maximum size ({@link #growth});</li>
 *   <li>every gauge returns to idle after the load: nothing running, waiting, admitted or queued and no KV
 *       block held, and threads and open files back to their idle level after the warm-up (within
 *       {@code slack});</li>
 *   <li>every request got the answer it must get.</li>
 * </ul>
 */
public final class SoakVerdict {
    /** One check's outcome, with the numbers behind it. */
    public record Check(String name, boolean passed, String detail) {
    }

    private SoakVerdict() {
    }

    /**
     * Growth over the last third of {@code load} samples, as a share of {@code scale} (NaN: of the earlier
     * level). Resident memory is measured at its peaks: the highest reading of the last third against the
     * highest before it. The heap is a saw-tooth (it fills, a collection empties it), so it is measured at its
     * troughs, what survives collections: the lowest reading of the last third against the lowest of the
     * middle third. NaN with fewer than 6 samples.
     */
    public static double growth(List<Sample> load, ToDoubleFunction<Gauges> series, boolean troughs, double scale) {
        int n = load.size();
        if (n < 6) {
            return Double.NaN;
        }
        int third = n / 3;
        List<Sample> before = troughs ? load.subList(third, n - third) : load.subList(0, n - third);
        List<Sample> last = load.subList(n - third, n);
        double b = troughs ? min(before, series) : max(before, series);
        double l = troughs ? min(last, series) : max(last, series);
        return (l - b) / (Double.isNaN(scale) || scale <= 0 ? b : scale);
    }

    private static double max(List<Sample> samples, ToDoubleFunction<Gauges> series) {
        return samples.stream().mapToDouble(s -> series.applyAsDouble(s.gauges())).max().orElse(Double.NaN);
    }

    private static double min(List<Sample> samples, ToDoubleFunction<Gauges> series) {
        return samples.stream().mapToDouble(s -> series.applyAsDouble(s.gauges())).min().orElse(Double.NaN);
    }

    /**
     * @param load        the samples taken under load
     * @param baseline    a reading when the server was idle after the warm-up
     * @param after       the last reading after the load (idle, or the settle time ran out)
     * @param maxGrowth   the largest memory growth over the last third that passes (0.02 = 2%)
     * @param slack       threads and file descriptors allowed above the baseline after the load
     * @param unexpected  requests that got an answer they must not get
     */
    public static List<Check> judge(List<Sample> load, Gauges baseline, Gauges after, double maxGrowth, int slack,
                                    long unexpected) {
        List<Check> checks = new ArrayList<>();
        checks.add(plateau("rss_plateau", growth(load, Gauges::rssBytes, false, Double.NaN), maxGrowth,
                "peak to peak"));
        // The live heap of a small model is tens of MiB, and its troughs move by a few MiB with the timing of
        // collections: heap growth is measured against the heap's maximum size, what it could run out of.
        double heapMax = load.isEmpty() ? Double.NaN : load.get(load.size() - 1).gauges().heapMaxBytes();
        checks.add(plateau("heap_plateau", growth(load, Gauges::heapBytes, true, heapMax), maxGrowth,
                Double.isNaN(heapMax) ? "trough to trough" : String.format("trough to trough, of the %.0f MiB heap",
                        heapMax / (1024 * 1024))));
        checks.add(new Check("requests_idle", after.idle(), after.idle() ? "nothing running, waiting, admitted or "
                + "queued; no KV block held" : "still busy: " + after.busy()));
        checks.add(level("threads_idle", baseline.threads(), after.threads(), slack));
        checks.add(level("fds_idle", baseline.fds(), after.fds(), slack));
        checks.add(new Check("answers", unexpected == 0, unexpected == 0 ? "every request got the answer it must"
                : unexpected + " requests got an unexpected answer"));
        return checks;
    }

    private static Check plateau(String name, double growth, double maxGrowth, String how) {
        if (Double.isNaN(growth)) {
            return new Check(name, false, "not measured (fewer than 6 samples under load, or the gauge is missing)");
        }
        return new Check(name, growth < maxGrowth, String.format("%+.2f%% over the last third (%s; limit %.1f%%)",
                growth * 100, how, maxGrowth * 100));
    }

    private static Check level(String name, double baseline, double after, int slack) {
        if (Double.isNaN(baseline) || Double.isNaN(after)) {
            return new Check(name, false, "not measured (the server does not export it)");
        }
        boolean ok = after <= baseline + slack;
        return new Check(name, ok, Gauges.fmt(after) + " after the load, " + Gauges.fmt(baseline)
                + " idle after the warm-up (allowed: +" + slack + ")");
    }

    public static boolean passed(List<Check> checks) {
        return checks.stream().allMatch(Check::passed);
    }
}
