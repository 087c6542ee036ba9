package dev.quire.gateway.observability;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One line per finished request on the {@code quire.access} logger. Prompt and output text are
 * never logged unless explicitly enabled ({@code --log-request-content}).
 *
 * <p>Every value is escaped (see {@link #escape}), so that what a client sent can neither break
 * the line nor forge fields or terminal escapes; prompt and output are cut after
 * {@link #MAX_CONTENT_CHARS} characters and names after {@link #MAX_FIELD_CHARS}.
 */
public final class AccessLog {
    private static final Logger LOG = LoggerFactory.getLogger("quire.access");
    /** Longest prompt or output text written; the rest is only counted. */
    public static final int MAX_CONTENT_CHARS = 4096;
    /** Longest id, model or key name written. */
    public static final int MAX_FIELD_CHARS = 256;

    private final boolean logContent;

    public AccessLog(boolean logContent) {
        this.logContent = logContent;
    }

    public boolean logsContent() {
        return logContent;
    }

    /**
     * What one request did. Text fields are null unless content logging is on; {@code migrations}
     * counts the times it continued on another worker after its worker was lost.
     */
    public record Entry(String requestId, String protocol, String model, String identity, int promptTokens,
                        int completionTokens, double queueMs, double ttftMs, double e2eMs, String status,
                        String promptText, String outputText, int migrations) {
        /** A request that never changed worker. */
        public Entry(String requestId, String protocol, String model, String identity, int promptTokens,
                     int completionTokens, double queueMs, double ttftMs, double e2eMs, String status,
                     String promptText, String outputText) {
            this(requestId, protocol, model, identity, promptTokens, completionTokens, queueMs, ttftMs, e2eMs, status,
                    promptText, outputText, 0);
        }
    }

    public void log(Entry e) {
        if (LOG.isInfoEnabled()) {
            LOG.info(format(e));
        }
    }

    String format(Entry e) {
        StringBuilder line = new StringBuilder(200)
                .append("id=").append(field(e.requestId()))
                .append(" protocol=").append(field(e.protocol()))
                .append(" model=").append(field(e.model()))
                .append(" key=").append(field(e.identity()))
                .append(" prompt_tokens=").append(e.promptTokens())
                .append(" completion_tokens=").append(e.completionTokens())
                .append(String.format(" queue_ms=%.1f ttft_ms=%.1f e2e_ms=%.1f", e.queueMs(), e.ttftMs(), e.e2eMs()))
                .append(" status=").append(field(e.status()));
        if (e.migrations() > 0) {
            line.append(" migrated=").append(e.migrations());
        }
        if (logContent) {
            line.append(" prompt=").append(quote(e.promptText(), MAX_CONTENT_CHARS))
                    .append(" output=").append(quote(e.outputText(), MAX_CONTENT_CHARS));
        }
        return line.toString();
    }

    /** A name as it is when it is plainly one ({@code req-1}, {@code key-0}), else quoted and escaped. */
    private static String field(String s) {
        if (s == null) {
            return "null";
        }
        if (s.isEmpty() || s.length() > MAX_FIELD_CHARS) {
            return quote(s, MAX_FIELD_CHARS);
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean plain = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                    || c == '.' || c == '_' || c == ':' || c == '-' || c == '/' || c == '@' || c == '+';
            if (!plain) {
                return quote(s, MAX_FIELD_CHARS);
            }
        }
        return s;
    }

    private static String quote(String s, int maxChars) {
        return s == null ? "null" : '"' + escape(s, maxChars) + '"';
    }

    /**
     * {@code s} made safe to write on one line of a log: a backslash and a double quote are escaped;
     * {@code \r}, {@code \n} and {@code \t} are written so; every other control, format (bidi
     * overrides, zero-width characters), line or paragraph separator, unassigned or unpaired surrogate
     * character becomes {@code \}{@code uXXXX}. Past {@code maxChars} characters of {@code s} the rest
     * is cut and counted: {@code ...(+N chars)}.
     */
    public static String escape(String s, int maxChars) {
        int end = Math.min(s.length(), maxChars);
        if (end < s.length() && end > 0 && Character.isHighSurrogate(s.charAt(end - 1))) {
            end--; // keep a surrogate pair whole
        }
        StringBuilder out = new StringBuilder(end + 16);
        for (int i = 0; i < end; ) {
            int cp = s.codePointAt(i);
            int units = Character.charCount(cp);
            switch (cp) {
                case '\\' -> out.append("\\\\");
                case '"' -> out.append("\\\"");
                case '\r' -> out.append("\\r");
                case '\n' -> out.append("\\n");
                case '\t' -> out.append("\\t");
                default -> {
                    if (printable(cp)) {
                        out.appendCodePoint(cp);
                    } else {
                        for (int k = 0; k < units; k++) {
                            out.append(String.format("\\u%04x", (int) s.charAt(i + k)));
                        }
                    }
                }
            }
            i += units;
        }
        if (end < s.length()) {
            out.append("...(+").append(s.length() - end).append(" chars)");
        }
        return out.toString();
    }

    private static boolean printable(int cp) {
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                 Character.SURROGATE, Character.UNASSIGNED, Character.PRIVATE_USE -> false;
            default -> true;
        };
    }
}
