package dev.quire.server;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.ledger.LedgerSettings;
import dev.quire.worker.engine.EngineConfig;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/** The start-up warning that an API without keys is reachable from the network, and only then. */
class OpenToTheNetworkWarningTest {
    static final Path MODEL = Path.of("../models/stories260K");

    static AllInOneServer.Options on(String host, ApiKeys keys) {
        return new AllInOneServer.Options(MODEL, null, host, 0, 0, EngineConfig.defaults().withKvCacheBytes(32L << 20),
                "quire-" + UUID.randomUUID(), keys, AdmissionLimits.defaults(), false, LedgerSettings.DEFAULTS);
    }

    /** The warnings AllInOneServer logs while starting (and at once stopping) a server with {@code options}. */
    static List<String> warningsStarting(AllInOneServer.Options options) throws Exception {
        Logger logger = (Logger) LoggerFactory.getLogger(AllInOneServer.class);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        logger.addAppender(appender);
        try {
            AllInOneServer.start(options).close();
        } finally {
            logger.detachAppender(appender);
        }
        return appender.list.stream().filter(e -> e.getLevel() == Level.WARN).map(ILoggingEvent::getFormattedMessage)
                .toList();
    }

    @Test
    void warnsWhenNoKeyIsSetAndTheApiListensBeyondLoopbackOnly() throws Exception {
        assertThat(warningsStarting(on("0.0.0.0", ApiKeys.none())))
                .containsExactly("No API key is set and the API listens on 0.0.0.0: it is open to the network");
        assertThat(warningsStarting(on("0.0.0.0", ApiKeys.of(List.of("k1"))))).as("keys are required").isEmpty();
        assertThat(warningsStarting(on("127.0.0.1", ApiKeys.none()))).as("loopback only").isEmpty();
    }
}
