package dev.quire.gateway.observability;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One line per finished request on the {@code quire.access} logger. Prompt and output text are
 * never logged unless explicitly enabled ({@code --log-request-content}).
 */
public final class AccessLog {
    private static final Logger LOG = LoggerFactory.getLogger("quire.access");

    private final boolean logContent;

    public AccessLog(boolean logContent) {
        this.logContent = logContent;
    }

    public boolean logsContent() {
        return logContent;
    }

    /** What one request did. Text fields are null unless content logging is on. */
    public record Entry(String requestId, String protocol, String model, String identity, int promptTokens,
                        int completionTokens, double queueMs, double ttftMs, double e2eMs, String status,
                        String promptText, String outputText) {
    }

    public void log(Entry e) {
        if (LOG.isInfoEnabled()) {
            LOG.info(format(e));
        }
    }

    String format(Entry e) {
        StringBuilder line = new StringBuilder(200)
                .append("id=").append(e.requestId())
                .append(" protocol=").append(e.protocol())
                .append(" model=").append(e.model())
                .append(" key=").append(e.identity())
                .append(" prompt_tokens=").append(e.promptTokens())
                .append(" completion_tokens=").append(e.completionTokens())
                .append(String.format(" queue_ms=%.1f ttft_ms=%.1f e2e_ms=%.1f", e.queueMs(), e.ttftMs(), e.e2eMs()))
                .append(" status=").append(e.status());
        if (logContent) {
            line.append(" prompt=").append(quote(e.promptText())).append(" output=").append(quote(e.outputText()));
        }
        return line.toString();
    }

    private static String quote(String s) {
        if (s == null) {
            return "null";
        }
        return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + '"';
    }
}
