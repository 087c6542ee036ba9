package dev.quire.server.cli;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code quire serve --no-console}: the all-in-one server shares the gateway's option. */
class ServeNoConsoleTest {
    @Test
    void serveTakesNoConsoleAsFlagAndEnvironment() {
        assertThat(ServeCommandTest.parse(Map.of(), "serve").gateway.noConsole).isFalse();
        assertThat(ServeCommandTest.parse(Map.of(), "serve", "--no-console").gateway.noConsole).isTrue();
        assertThat(ServeCommandTest.parse(Map.of("QUIRE_NO_CONSOLE", "true"), "serve").gateway.noConsole).isTrue();
    }
}
