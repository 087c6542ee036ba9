package dev.quire.gateway.admission;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class GatewayExceptionTest {
    @Test
    void anIllegalStateIsAnInternalErrorNotADrain() {
        GatewayException e = GatewayException.from(new IllegalStateException("block 7 is already free"));
        assertThat(e.kind()).isEqualTo(ErrorKind.INTERNAL);
        assertThat(e.kind().httpStatus()).isEqualTo(500);
    }

    @Test
    void aDrainStaysADrain() {
        GatewayException drain = new GatewayException(ErrorKind.DRAINING, null, "shutting down");
        assertThat(GatewayException.from(drain)).isSameAs(drain);
        assertThat(drain.kind().httpStatus()).isEqualTo(503);
    }

    @Test
    void anInternalErrorsDetailGoesToTheLogAndTheClientGetsTheRequestId() {
        GatewayException internal = GatewayException.from(new RuntimeException("cannot open /srv/secret\n[fake] line"));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream saved = System.err;
        GatewayException shown;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            shown = internal.forClient("req-42");
            assertThat(shown.forClient("req-42")).isSameAs(shown);
        } finally {
            System.setErr(saved);
        }
        assertThat(shown.kind()).isEqualTo(ErrorKind.INTERNAL);
        assertThat(shown.param()).isNull();
        assertThat(shown.getMessage()).isEqualTo("internal error; see the server log, request id req-42");
        String log = err.toString(StandardCharsets.UTF_8);
        assertThat(log).contains("request req-42 failed: internal error: cannot open /srv/secret\\n[fake] line");
        assertThat(log.split("request req-42 failed", -1)).hasSize(2); // logged once
    }

    @Test
    void anInternalErrorWithoutARequestIdGetsOne() {
        GatewayException shown = new GatewayException(ErrorKind.INTERNAL, "prompt", "tokenizer crashed").forClient(null);
        assertThat(shown.getMessage()).matches("internal error; see the server log, request id err-[0-9a-f-]{36}");
    }

    @Test
    void theClientsOwnErrorsAreShownAsTheyAre() {
        GatewayException invalid = new GatewayException(ErrorKind.INVALID_ARGUMENT, "max_tokens", "max_tokens: too big");
        assertThat(invalid.forClient("req-1")).isSameAs(invalid);
    }
}
