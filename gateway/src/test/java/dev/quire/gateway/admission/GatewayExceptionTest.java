package dev.quire.gateway.admission;

import org.junit.jupiter.api.Test;

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
}
