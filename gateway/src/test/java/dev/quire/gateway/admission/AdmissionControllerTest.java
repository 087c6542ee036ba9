package dev.quire.gateway.admission;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AdmissionControllerTest {
    final AtomicLong now = new AtomicLong();

    AdmissionController controller(AdmissionLimits limits, String... keys) {
        return new AdmissionController(keys.length == 0 ? ApiKeys.none() : ApiKeys.of(List.of(keys)), limits, now::get);
    }

    static AdmissionLimits limits(int concurrent, int queued, long rpm, long tpm) {
        return new AdmissionLimits(concurrent, queued, Duration.ofSeconds(5), rpm, tpm, 0, 0, 1 << 20);
    }

    static ErrorKind kindOf(Runnable r) {
        try {
            r.run();
        } catch (GatewayException e) {
            return e.kind();
        }
        return null;
    }

    @Test
    void withoutKeysEveryoneIsAnonymous() {
        AdmissionController c = controller(AdmissionLimits.defaults());
        assertThat(c.authRequired()).isFalse();
        assertThat(c.authenticate(null)).isEqualTo("anonymous");
    }

    @Test
    void keysAreRequiredAndNamedByIndexNeverByValue() {
        AdmissionController c = controller(AdmissionLimits.defaults(), "alpha", "beta");
        assertThat(c.authenticate("beta")).isEqualTo("key-1");
        assertThat(kindOf(() -> c.authenticate(null))).isEqualTo(ErrorKind.UNAUTHENTICATED);
        assertThat(kindOf(() -> c.authenticate("alph"))).isEqualTo(ErrorKind.UNAUTHENTICATED);
        assertThat(kindOf(() -> c.authenticate("alpha2"))).isEqualTo(ErrorKind.UNAUTHENTICATED);
        assertThat(ApiKeys.bearer("Bearer  alpha ")).isEqualTo("alpha");
        assertThat(ApiKeys.bearer("Basic alpha")).isNull();
    }

    @Test
    void queueBoundRefusesAtOnceAndPermitsGiveCapacityBack() {
        AdmissionController c = controller(limits(10, 2, 0, 0));
        AdmissionController.Permit a = c.admit("x", 5);
        AdmissionController.Permit b = c.admit("x", 5);
        assertThatThrownBy(() -> c.admit("x", 5)).isInstanceOfSatisfying(GatewayException.class, e -> {
            assertThat(e.kind()).isEqualTo(ErrorKind.OVERLOADED);
            assertThat(e.retryAfterSeconds()).isPositive();
        });
        a.started();
        AdmissionController.Permit c3 = c.admit("x", 5);
        assertThat(c.queued()).isEqualTo(2);
        assertThat(c.inFlight()).isEqualTo(3);
        a.close();
        b.close();
        c3.close();
        c3.close();
        assertThat(c.queued()).isZero();
        assertThat(c.inFlight()).isZero();
    }

    @Test
    void concurrencyBoundCountsRunningRequestsToo() {
        AdmissionController c = controller(limits(2, 10, 0, 0));
        c.admit("x", 1).started();
        c.admit("x", 1).started();
        assertThat(kindOf(() -> c.admit("x", 1))).isEqualTo(ErrorKind.OVERLOADED);
    }

    @Test
    void requestRateIsLimitedPerKeyAndRefills() {
        AdmissionController c = controller(limits(100, 100, 3, 0));
        for (int i = 0; i < 3; i++) {
            c.admit("a", 1).close();
        }
        assertThatThrownBy(() -> c.admit("a", 1)).isInstanceOfSatisfying(GatewayException.class, e -> {
            assertThat(e.kind()).isEqualTo(ErrorKind.RATE_LIMITED);
            assertThat(e.retryAfterSeconds()).isBetween(1L, 20L);
        });
        c.admit("b", 1).close(); // another key has its own bucket
        now.addAndGet(Duration.ofSeconds(20).toNanos()); // a third of a minute refills one request
        c.admit("a", 1).close();
        assertThat(kindOf(() -> c.admit("a", 1))).isEqualTo(ErrorKind.RATE_LIMITED);
    }

    @Test
    void tokenRateChargesPromptUpFrontAndOutputAfterwards() {
        AdmissionController c = controller(limits(100, 100, 0, 1000));
        AdmissionController.Permit p = c.admit("a", 600);
        p.chargeGenerated(300);
        p.close();
        assertThat(kindOf(() -> c.admit("a", 200))).isEqualTo(ErrorKind.RATE_LIMITED);
        c.admit("a", 100).close();
    }

    @Test
    void drainingRefusesNewRequests() {
        AdmissionController c = controller(AdmissionLimits.defaults());
        c.startDraining();
        assertThat(kindOf(() -> c.admit("x", 1))).isEqualTo(ErrorKind.DRAINING);
    }
}
