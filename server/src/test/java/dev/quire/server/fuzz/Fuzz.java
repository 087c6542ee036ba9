package dev.quire.server.fuzz;

import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * A small property runner for the fuzz tests: a fixed master seed gives every try its own seed, so
 * a run is the same on every machine, and a failure names the try's seed and its example, shrunk
 * as far as the property keeps failing.
 *
 * <p>{@code -Dquire.fuzz.seed=N} runs with another master seed, {@code -Dquire.fuzz.tries=N} with
 * another number of tries per property, and {@code -Dquire.fuzz.try-seed=N} runs only the one try
 * a failure named.
 */
final class Fuzz {
    private Fuzz() {
    }

    /** One example for a property. */
    interface Property<T> {
        /**
         * Checks one example; throws (an {@link AssertionError} or anything else) when it fails.
         *
         * @return a short label of the outcome (a status), counted in the summary
         */
        String check(T example) throws Exception;
    }

    /**
     * Runs {@code property} on {@code tries} examples from {@code generator}.
     *
     * @param shrink smaller variants of a failing example, tried in order (empty: none)
     * @param show   how an example is printed in a failure
     * @return how often each outcome label came up
     */
    static <T> Map<String, Integer> run(String name, long seed, int tries, Function<Random, T> generator,
                                        Property<T> property, Function<T, List<T>> shrink, Function<T, String> show) {
        long masterSeed = Long.getLong("quire.fuzz.seed", seed);
        int count = Integer.getInteger("quire.fuzz.tries", tries);
        Long only = Long.getLong("quire.fuzz.try-seed");
        Random master = new Random(masterSeed);
        Map<String, Integer> outcomes = new TreeMap<>();
        long start = System.nanoTime();
        for (int i = 0; i < (only != null ? 1 : count); i++) {
            long trySeed = only != null ? only : master.nextLong();
            T example = generator.apply(new Random(trySeed));
            Throwable failure = attempt(property, example, outcomes);
            if (failure != null) {
                T smallest = shrunk(property, example, shrink);
                AssertionError error = new AssertionError(String.format(
                        "property '%s' failed at try %d (master seed %d, try seed %d; rerun it alone with "
                                + "-Dquire.fuzz.try-seed=%d)%n  example: %s%n  shrunk:  %s%n  failure: %s",
                        name, i, masterSeed, trySeed, trySeed, abbreviate(show.apply(example)),
                        abbreviate(show.apply(smallest)), failure), failure);
                throw error;
            }
        }
        System.out.printf("fuzz %s: %d tries in %.1f s, seed %d, outcomes %s%n", name, only != null ? 1 : count,
                (System.nanoTime() - start) / 1e9, masterSeed, outcomes);
        return outcomes;
    }

    private static <T> Throwable attempt(Property<T> property, T example, Map<String, Integer> outcomes) {
        try {
            String outcome = property.check(example);
            if (outcomes != null) {
                outcomes.merge(outcome, 1, Integer::sum);
            }
            return null;
        } catch (Exception | AssertionError e) {
            return e;
        }
    }

    /**
     * Greedy shrinking: take the first smaller variant that still fails, until none does (at most
     * 50 steps, and a minute: a failure may be a timeout, and each retry of it takes as long).
     */
    private static <T> T shrunk(Property<T> property, T example, Function<T, List<T>> shrink) {
        long deadline = System.nanoTime() + 60_000_000_000L;
        T current = example;
        for (int step = 0; step < 50; step++) {
            T next = null;
            for (T candidate : shrink.apply(current)) {
                if (System.nanoTime() - deadline > 0) {
                    return current;
                }
                if (attempt(property, candidate, null) != null) {
                    next = candidate;
                    break;
                }
            }
            if (next == null) {
                return current;
            }
            current = next;
        }
        return current;
    }

    static String abbreviate(String s) {
        return s.length() <= 4000 ? s : s.substring(0, 2000) + " ...(" + (s.length() - 4000) + " chars)... "
                + s.substring(s.length() - 2000);
    }

    /** A Java string literal of {@code s}: every char outside printable ASCII as an escape. */
    static String quote(String s) {
        StringBuilder out = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c >= 0x20 && c < 0x7f) {
                out.append(c);
            } else {
                out.append(String.format("\\u%04x", (int) c));
            }
        }
        return out.append('"').toString();
    }

    /** Bytes as a Java string literal of their ISO-8859-1 reading: shows exactly which bytes were sent. */
    static String quote(byte[] bytes) {
        return quote(new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1));
    }

    /** One of {@code options}, uniformly. */
    @SafeVarargs
    static <T> T oneOf(Random r, T... options) {
        return options[r.nextInt(options.length)];
    }

    static boolean chance(Random r, double p) {
        return r.nextDouble() < p;
    }
}
