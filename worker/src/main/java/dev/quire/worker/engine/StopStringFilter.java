package dev.quire.worker.engine;

import java.util.List;

/**
 * Holds back streamed text that could be the start of a stop string, so that a stop string split
 * across chunks is never sent, and cuts the text where a stop string appears.
 */
final class StopStringFilter {
    private final List<String> stops;
    private final StringBuilder pending = new StringBuilder();

    /** Text that may be sent now, and whether a stop string was found. */
    record Result(String text, boolean stopped) {
    }

    StopStringFilter(List<String> stops) {
        this.stops = stops;
    }

    Result offer(String delta) {
        if (stops.isEmpty()) {
            return new Result(delta, false);
        }
        pending.append(delta);
        // Sent text never ends with the start of a stop string, so any match begins in pending.
        int cut = -1;
        for (String stop : stops) {
            int at = pending.indexOf(stop);
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
            }
        }
        if (cut >= 0) {
            String text = pending.substring(0, cut);
            pending.setLength(0);
            return new Result(text, true);
        }
        int hold = longestStopPrefixSuffix();
        String text = pending.substring(0, pending.length() - hold);
        pending.delete(0, pending.length() - hold);
        return new Result(text, false);
    }

    /** Text still held back when generation ends for another reason. */
    String flush() {
        String rest = pending.toString();
        pending.setLength(0);
        return rest;
    }

    private int longestStopPrefixSuffix() {
        int best = 0;
        for (String stop : stops) {
            int max = Math.min(stop.length() - 1, pending.length());
            for (int len = max; len > best; len--) {
                if (endsWithPrefix(stop, len)) {
                    best = len;
                    break;
                }
            }
        }
        return best;
    }

    private boolean endsWithPrefix(String stop, int len) {
        int from = pending.length() - len;
        for (int i = 0; i < len; i++) {
            if (pending.charAt(from + i) != stop.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
