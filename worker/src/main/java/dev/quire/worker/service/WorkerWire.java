package dev.quire.worker.service;

import dev.quire.proto.internal.v1.Failure;
import dev.quire.proto.internal.v1.Finish;
import dev.quire.proto.internal.v1.ModelDescription;
import dev.quire.proto.internal.v1.Sampling;
import dev.quire.proto.internal.v1.TokenDecoding;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.SamplingOptions;
import dev.quire.scheduler.engine.TokenLogprobs;
import dev.quire.scheduler.engine.TokenVocabulary;

/** The worker's side of the data plane's wire format: requests in, model facts and events out. */
final class WorkerWire {
    private WorkerWire() {
    }

    /** The sampling options a gateway sent; validated again here, as any input. */
    static SamplingOptions sampling(Sampling s) {
        return new SamplingOptions(s.getMaxTokens(), s.getTemperature(), s.getTopP(), s.getTopK(), s.getMinP(),
                s.hasSeed() ? s.getSeed() : null, s.getStopList(),
                s.getStopTokenIdsList().stream().mapToInt(Integer::intValue).toArray(), s.getIgnoreEos(),
                s.getRepetitionPenalty(), s.getPresencePenalty(), s.getFrequencyPenalty(), s.getLogprobs());
    }

    static ModelDescription describe(ModelInfo m) {
        ModelDescription.Builder out = ModelDescription.newBuilder().setName(m.name()).setVocabSize(m.vocabSize())
                .setMaxModelLen(m.maxModelLen()).setDecoding(switch (m.vocabulary().decoding()) {
                    case SENTENCEPIECE -> TokenDecoding.TOKEN_DECODING_SENTENCEPIECE;
                    case BYTE_LEVEL -> TokenDecoding.TOKEN_DECODING_BYTE_LEVEL;
                    case PLAIN -> TokenDecoding.TOKEN_DECODING_PLAIN;
                });
        if (m.chatTemplate() != null) {
            out.setChatTemplate(m.chatTemplate());
        }
        if (m.bosToken() != null) {
            out.setBosToken(m.bosToken());
        }
        if (m.eosToken() != null) {
            out.setEosToken(m.eosToken());
        }
        TokenVocabulary v = m.vocabulary();
        for (int id = 0; id < v.size(); id++) {
            String token = v.token(id);
            out.addTokens(token == null ? "" : token);
            if (token == null) {
                out.addUnusedIds(id);
            }
            if (v.isSpecial(id)) {
                out.addSpecialIds(id);
            }
        }
        return out.build();
    }

    static dev.quire.proto.internal.v1.TokenLogprobs logprobs(TokenLogprobs l) {
        var out = dev.quire.proto.internal.v1.TokenLogprobs.newBuilder().setTokenId(l.tokenId()).setLogprob(l.logprob());
        for (int i = 0; i < l.topTokenIds().length; i++) {
            out.addTopTokenIds(l.topTokenIds()[i]).addTopLogprobs(l.topLogprobs()[i]);
        }
        return out.build();
    }

    static Finish finish(FinishReason reason) {
        return switch (reason) {
            case STOP -> Finish.FINISH_STOP;
            case LENGTH -> Finish.FINISH_LENGTH;
            case STOP_STRING -> Finish.FINISH_STOP_STRING;
            case ABORTED -> Finish.FINISH_ABORTED;
        };
    }

    static Failure failure(Failure.Kind kind, String field, String message) {
        return Failure.newBuilder().setKind(kind).setField(field == null ? "" : field)
                .setMessage(message == null ? "" : message).build();
    }
}
