package dev.quire.gateway.api;

import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.proto.v1.GenerateRequest;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GrpcRequestsTest {
    static GenerateRequest withPriority(int p) {
        return GenerateRequest.newBuilder().setPrompt("a").setPriority(p).build();
    }

    @Test
    void priorityIsReadWhenSetAndNullWhenUnset() {
        assertThat(GrpcRequests.priority(GenerateRequest.newBuilder().setPrompt("a").build())).isNull();
        assertThat(GrpcRequests.priority(withPriority(0))).as("0 set explicitly is not 'unset'").isEqualTo(0);
        assertThat(GrpcRequests.priority(withPriority(-1000))).isEqualTo(-1000);
        assertThat(GrpcRequests.priority(withPriority(1000))).isEqualTo(1000);
    }

    @Test
    void priorityOutsideItsRangeIsInvalidArgumentNamingTheField() {
        for (int p : new int[]{-1001, 1001, Integer.MIN_VALUE}) {
            assertThatThrownBy(() -> GrpcRequests.priority(withPriority(p)))
                    .isInstanceOfSatisfying(GatewayException.class, e -> {
                        assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
                        assertThat(e.param()).isEqualTo("priority");
                        assertThat(e.getMessage()).isEqualTo("priority: must be in [-1000, 1000], got " + p);
                    });
        }
    }
}
