package dev.quire.loadtest.cli;

import java.time.Duration;
import java.util.Locale;

/**
 * Parses option values that picocli would otherwise report with a full usage dump: a bad value here becomes
 * one clear line, whichever command line (standalone or {@code quire bench}) runs the command.
 */
final class Values {
    private Values() {
    }

    /** {@code 500ms}, {@code 30s}, {@code 2m}, {@code 1h}; a bare number is seconds. */
    static Duration duration(String value, String option) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        double scaleNanos = 1e9;
        String number = v;
        if (v.endsWith("ms")) {
            scaleNanos = 1e6;
            number = v.substring(0, v.length() - 2);
        } else if (v.endsWith("s")) {
            number = v.substring(0, v.length() - 1);
        } else if (v.endsWith("m")) {
            scaleNanos = 60e9;
            number = v.substring(0, v.length() - 1);
        } else if (v.endsWith("h")) {
            scaleNanos = 3600e9;
            number = v.substring(0, v.length() - 1);
        }
        double n;
        try {
            n = Double.parseDouble(number.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + ": '" + value + "' is not a duration (examples: 500ms, 30s, 2m)");
        }
        if (!(n >= 0) || Double.isInfinite(n)) {
            throw new IllegalArgumentException(option + ": '" + value + "' must be a duration >= 0");
        }
        return Duration.ofNanos(Math.round(n * scaleNanos));
    }

    /** A comma-separated list of request rates; {@code inf} means no rate limit. */
    static double[] rates(String value) {
        String[] parts = value.split(",");
        double[] rates = new double[parts.length];
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i].trim().toLowerCase(Locale.ROOT);
            if (p.equals("inf") || p.equals("infinity")) {
                rates[i] = Double.POSITIVE_INFINITY;
                continue;
            }
            try {
                rates[i] = Double.parseDouble(p);
            } catch (NumberFormatException e) {
                rates[i] = Double.NaN;
            }
            if (!(rates[i] > 0) || Double.isInfinite(rates[i])) {
                throw new IllegalArgumentException("--request-rate: '" + parts[i].trim() + "' is not a rate > 0 in "
                        + "requests/s (examples: 2, 0.5, inf; a sweep: 1,2,4)");
            }
        }
        return rates;
    }

    /** A comma-separated list of positive integers (concurrency levels). */
    static int[] counts(String value, String option) {
        String[] parts = value.split(",");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                out[i] = -1;
            }
            if (out[i] < 1) {
                throw new IllegalArgumentException(option + ": '" + parts[i].trim() + "' is not a whole number >= 1 "
                        + "(a sweep: 1,4,16)");
            }
        }
        return out;
    }

    /** A comma-separated list of percentiles in (0, 100]. */
    static double[] percentiles(String value) {
        String[] parts = value.split(",");
        double[] out = new double[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Double.parseDouble(parts[i].trim());
            } catch (NumberFormatException e) {
                out[i] = Double.NaN;
            }
            if (!(out[i] > 0 && out[i] <= 100)) {
                throw new IllegalArgumentException("--percentiles: '" + parts[i].trim() + "' is not a percentile in "
                        + "(0, 100] (example: 50,90,99,99.9)");
            }
        }
        return out;
    }

    /** A rate for labels: {@code inf} or a short number. */
    static String rate(double r) {
        if (Double.isInfinite(r)) {
            return "inf";
        }
        return r == Math.rint(r) ? String.valueOf((long) r) : String.valueOf(r);
    }

    /**
     * The command's own arguments as the user typed them. picocli's original arguments are the whole command
     * line's, which under {@code quire} start with the subcommand's name.
     */
    static java.util.List<String> ownArgs(picocli.CommandLine.Model.CommandSpec spec) {
        java.util.List<String> args = spec.commandLine().getParseResult() == null ? java.util.List.of()
                : spec.commandLine().getParseResult().originalArgs();
        return !args.isEmpty() && args.get(0).equals(spec.name()) && spec.parent() != null ? args.subList(1, args.size())
                : args;
    }
}
