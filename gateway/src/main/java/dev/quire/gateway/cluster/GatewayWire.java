package dev.quire.gateway.cluster;

import dev.quire.proto.internal.v1.Finish;
import dev.quire.proto.internal.v1.ModelDescription;
import dev.quire.proto.internal.v1.Sampling;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.SamplingOptions;
import dev.quire.scheduler.engine.TokenLogprobs;
import dev.quire.scheduler.engine.TokenVocabulary;

/** The gateway's side of the data plane's wire format: requests out, model facts and events in. */
final class GatewayWire {
    private GatewayWire() {
    }

    static Sampling sampling(SamplingOptions s) {
        Sampling.Builder out = Sampling.newBuilder().setMaxTokens(s.maxTokens()).setTemperature(s.temperature())
                .setTopP(s.topP()).setTopK(s.topK()).setMinP(s.minP()).addAllStop(s.stop())
                .setIgnoreEos(s.ignoreEos()).setRepetitionPenalty(s.repetitionPenalty())
                .setPresencePenalty(s.presencePenalty()).setFrequencyPenalty(s.frequencyPenalty())
                .setLogprobs(s.logprobs());
        for (int id : s.stopTokenIds()) {
            out.addStopTokenIds(id);
        }
        if (s.seed() != null) {
            out.setSeed(s.seed());
        }
        return out.build();
    }

    static ModelInfo model(ModelDescription d) {
        String[] tokens = d.getTokensList().toArray(String[]::new);
        for (int id : d.getUnusedIdsList()) {
            if (id >= 0 && id < tokens.length) {
                tokens[id] = null;
            }
        }
        boolean[] special = new boolean[tokens.length];
        for (int id : d.getSpecialIdsList()) {
            if (id >= 0 && id < tokens.length) {
                special[id] = true;
            }
        }
        TokenVocabulary.Decoding decoding = switch (d.getDecoding()) {
            case TOKEN_DECODING_SENTENCEPIECE -> TokenVocabulary.Decoding.SENTENCEPIECE;
            case TOKEN_DECODING_BYTE_LEVEL -> TokenVocabulary.Decoding.BYTE_LEVEL;
            default -> TokenVocabulary.Decoding.PLAIN;
        };
        return new ModelInfo(d.getName(), d.getVocabSize(), d.getMaxModelLen(),
                d.hasChatTemplate() ? d.getChatTemplate() : null, d.hasBosToken() ? d.getBosToken() : null,
                d.hasEosToken() ? d.getEosToken() : null, new TokenVocabulary(tokens, special, decoding));
    }

    static TokenLogprobs logprobs(dev.quire.proto.internal.v1.TokenLogprobs l) {
        int[] ids = l.getTopTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
        float[] lps = new float[l.getTopLogprobsCount()];
        for (int i = 0; i < lps.length; i++) {
            lps[i] = l.getTopLogprobs(i);
        }
        return new TokenLogprobs(l.getTokenId(), l.getLogprob(), ids, lps);
    }

    static FinishReason finish(Finish f) {
        return switch (f) {
            case FINISH_STOP -> FinishReason.STOP;
            case FINISH_LENGTH -> FinishReason.LENGTH;
            case FINISH_STOP_STRING -> FinishReason.STOP_STRING;
            default -> FinishReason.ABORTED;
        };
    }
}
