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
    void textIsLoggedOnlyWhenEnabledAndStaysOnOneLine() {
        String line = new AccessLog(true).format(entry());
        assertThat(line).contains("prompt=\"my secret prompt\"", "output=\"the \\\"private\\\"\\noutput\"");
        assertThat(line.lines()).hasSize(1);
    }
}
