package dev.quire.loadtest.report;

import dev.quire.loadtest.driver.Progress;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The live progress line on a terminal: requests done, rate, errors, in flight. Rewrites one line with
 * {@code \r}; call {@link #finish()} to move past it.
 */
public final class ProgressLine implements Consumer<Progress> {
    private final PrintWriter out;
    private int lastLength;

    public ProgressLine(PrintWriter out) {
        this.out = out;
    }

    @Override
    public synchronized void accept(Progress p) {
        String text;
        if (p.warmingUp()) {
            text = String.format(Locale.ROOT, "[%s] warming up, %d in flight", p.label(), p.inFlight());
        } else {
            String of = p.total() > 0 ? "/" + p.total() : "";
            String time = p.durationSeconds() > 0
                    ? String.format(Locale.ROOT, "%.0f/%.0f s", p.elapsedSeconds(), p.durationSeconds())
                    : String.format(Locale.ROOT, "%.1f s", p.elapsedSeconds());
            double rate = p.elapsedSeconds() > 0 ? p.done() / p.elapsedSeconds() : 0;
            text = String.format(Locale.ROOT, "[%s] %d%s done, %.2f req/s, %d errors, %d in flight, %s",
                    p.label(), p.done(), of, rate, p.failed(), p.inFlight(), time);
        }
        int pad = Math.max(0, lastLength - text.length());
        out.print("\r" + text + " ".repeat(pad));
        out.flush();
        lastLength = text.length();
    }

    /** Ends the line. */
    public synchronized void finish() {
        if (lastLength > 0) {
            out.println();
            out.flush();
            lastLength = 0;
        }
    }
}
