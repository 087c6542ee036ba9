package dev.quire.gateway.api;

import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.scheduler.engine.SamplingOptions;
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

    @Test
    void everySamplingParamReachesTheEngineOptions() {
        SamplingOptions s = GrpcRequests.sampling(SamplingParams.newBuilder().setMaxTokens(33).setTemperature(0.5f)
                .setTopP(0.9f).setTopK(7).setMinP(0.1f).setSeed(-7L).addStop("x").addStop("yz")
                .addStopTokenIds(2).addStopTokenIds(9).setIgnoreEos(true).setPresencePenalty(0.25f)
                .setFrequencyPenalty(-0.75f).setRepetitionPenalty(1.1f).setLogprobs(4).build());
        assertThat(s.maxTokens()).isEqualTo(33);
        assertThat(s.temperature()).isEqualTo(0.5f);
        assertThat(s.topP()).isEqualTo(0.9f);
        assertThat(s.topK()).isEqualTo(7);
        assertThat(s.minP()).isEqualTo(0.1f);
        assertThat(s.seed()).as("uint64 carries the seed's bits").isEqualTo(-7L);
        assertThat(s.stop()).containsExactly("x", "yz");
        assertThat(s.stopTokenIds()).containsExactly(2, 9);
        assertThat(s.ignoreEos()).isTrue();
        assertThat(s.presencePenalty()).isEqualTo(0.25f);
        assertThat(s.frequencyPenalty()).isEqualTo(-0.75f);
        assertThat(s.repetitionPenalty()).isEqualTo(1.1f);
        assertThat(s.logprobs()).isEqualTo(4);
    }

    @Test
    void unsetSamplingParamsTakeTheDocumentedDefaults() {
        SamplingOptions s = GrpcRequests.sampling(SamplingParams.getDefaultInstance());
        assertThat(s.maxTokens()).as("until the context is full").isZero();
        assertThat(s.temperature()).isEqualTo(1f);
        assertThat(s.topP()).isEqualTo(1f);
        assertThat(s.topK()).isZero();
        assertThat(s.minP()).isZero();
        assertThat(s.seed()).isNull();
        assertThat(s.stop()).isEmpty();
        assertThat(s.stopTokenIds()).isEmpty();
        assertThat(s.ignoreEos()).isFalse();
        assertThat(s.presencePenalty()).isZero();
        assertThat(s.frequencyPenalty()).isZero();
        assertThat(s.repetitionPenalty()).isEqualTo(1f);
        assertThat(s.logprobs()).isZero();
        // Explicit zeros are values, not "unset": temperature 0 is greedy.
        assertThat(GrpcRequests.sampling(SamplingParams.newBuilder().setTemperature(0f).build()).temperature())
                .isZero();
    }

    @Test
    void anOutOfRangeSamplingParamIsInvalidArgumentNamingItsProtoField() {
        assertThatThrownBy(() -> GrpcRequests.sampling(SamplingParams.newBuilder().setMinP(1.5f).build()))
                .isInstanceOfSatisfying(GatewayException.class, e -> {
                    assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
                    assertThat(e.param()).isEqualTo("sampling.min_p");
                });
        assertThatThrownBy(() -> GrpcRequests.sampling(SamplingParams.newBuilder().setMaxTokens(0).build()))
                .isInstanceOfSatisfying(GatewayException.class,
                        e -> assertThat(e.param()).isEqualTo("sampling.max_tokens"));
    }
}
