package dev.quire.gateway.observability;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class AccessLogTest {
    static AccessLog.Entry entry() {
        return new AccessLog.Entry("req-1", "grpc", "stories260K", "key-0", 5, 7, 1.25, 12.5, 80.0, "STOP",
                "my secret prompt", "the \"private\"\noutput");
    }

    @Test
    void aLineNamesTheRequestButNeverItsTextByDefault() {
        String line = new AccessLog(false).format(entry());
        assertThat(line).isEqualTo("id=req-1 protocol=grpc model=stories260K key=key-0 prompt_tokens=5 "
                + "completion_tokens=7 queue_ms=1.3 ttft_ms=12.5 e2e_ms=80.0 status=STOP");
        assertThat(line).doesNotContain("secret").doesNotContain("private");
    }

    @Test
    void aRequestThatChangedWorkerSaysSo() {
        assertThat(new AccessLog(false).format(entry())).doesNotContain("migrated");
        AccessLog.Entry e = entry();
        AccessLog.Entry moved = new AccessLog.Entry(e.requestId(), e.protocol(), e.model(), e.identity(),
                e.promptTokens(), e.completionTokens(), e.queueMs(), e.ttftMs(), e.e2eMs(), e.status(), null, null, 2);
        assertThat(new AccessLog(false).format(moved)).contains(" migrated=2");
    }

    @Test
    void textIsLoggedOnlyWhenEnabledAndStaysOnOneLine() {
        String line = new AccessLog(true).format(entry());
        assertThat(line).contains("prompt=\"my secret prompt\"", "output=\"the \\\"private\\\"\\noutput\"");
        assertThat(line.lines()).hasSize(1);
    }

    static AccessLog.Entry withText(String requestId, String prompt, String output) {
        return new AccessLog.Entry(requestId, "grpc", "stories260K", "key-0", 5, 7, 1.25, 12.5, 80.0, "STOP",
                prompt, output);
    }

    @Test
    void controlAndInvisibleCharactersAreEscaped() {
        String line = new AccessLog(true).format(withText("req-1",
                "a\r\nb\tc\u001b[31md\u0000e\u007ff\u2028g\u202eh\u200bi\\j", "caf\u00e9 \ud83d\ude00 \ud800x"));
        assertThat(line).contains("prompt=\"a\\r\\nb\\tc\\u001b[31md\\u0000e\\u007ff\\u2028g\\u202eh\\u200bi\\\\j\"",
                "output=\"caf\u00e9 \ud83d\ude00 \\ud800x\"");
        assertThat(line.lines()).hasSize(1);
        assertThat(line.chars().filter(c -> c < 0x20 || c == 0x7f || c == 0x2028 || c == 0x202e || c == 0x200b))
                .isEmpty();
    }

    @Test
    void aRequestIdCannotForgeFieldsOrLines() {
        String line = new AccessLog(false).format(withText("x\r\nid=forged status=OK", null, null));
        assertThat(line).startsWith("id=\"x\\r\\nid=forged status=OK\" protocol=grpc ");
        assertThat(line.lines()).hasSize(1);
        assertThat(line).endsWith(" status=STOP");
    }

    @Test
    void contentAndNamesAreBounded() {
        String line = new AccessLog(true).format(withText("r".repeat(1000), "p".repeat(10_000), "o".repeat(5_000)));
        assertThat(line).contains("id=\"" + "r".repeat(AccessLog.MAX_FIELD_CHARS) + "...(+744 chars)\" ",
                "prompt=\"" + "p".repeat(AccessLog.MAX_CONTENT_CHARS) + "...(+5904 chars)\" ",
                "output=\"" + "o".repeat(AccessLog.MAX_CONTENT_CHARS) + "...(+904 chars)\"");
        assertThat(line.length()).isLessThan(AccessLog.MAX_FIELD_CHARS + 2 * AccessLog.MAX_CONTENT_CHARS + 400);
    }
}
