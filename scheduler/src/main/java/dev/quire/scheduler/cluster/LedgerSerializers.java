package dev.quire.scheduler.cluster;

import com.hazelcast.nio.serialization.compact.CompactReader;
import com.hazelcast.nio.serialization.compact.CompactSerializer;
import com.hazelcast.nio.serialization.compact.CompactWriter;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GeneratedOutput;
import dev.quire.scheduler.engine.SamplingOptions;
import dev.quire.scheduler.engine.TokenLogprobs;

import java.util.List;

/**
 * Hazelcast Compact serialization of the request ledger's entries and of the updates run on them
 * where they are stored: plain fields, no Java serialization, no class named by the sender.
 */
final class LedgerSerializers {
    private LedgerSerializers() {
    }

    static List<CompactSerializer<?>> all() {
        return List.of(new Entry(), new Append(), new TakeOver(), new Open());
    }

    static final class Entry implements CompactSerializer<LedgerEntry> {
        @Override
        public LedgerEntry read(CompactReader in) {
            String finish = in.readString("finish");
            return new LedgerEntry(in.readString("requestId"), in.readString("client"), in.readString("model"),
                    in.readArrayOfInt32("prompt"), readSampling(in), in.readInt32("priority"), in.readString("gateway"),
                    in.readString("worker"), readOutput(in, "out."), finish == null ? null : FinishReason.valueOf(finish),
                    in.readInt32("completionTokens"));
        }

        @Override
        public void write(CompactWriter out, LedgerEntry e) {
            out.writeString("requestId", e.requestId());
            out.writeString("client", e.client());
            out.writeString("model", e.model());
            out.writeArrayOfInt32("prompt", e.prompt());
            writeSampling(out, e.sampling());
            out.writeInt32("priority", e.priority());
            out.writeString("gateway", e.gateway());
            out.writeString("worker", e.worker());
            writeOutput(out, "out.", e.output());
            out.writeString("finish", e.finish() == null ? null : e.finish().name());
            out.writeInt32("completionTokens", e.completionTokens());
        }

        @Override
        public String getTypeName() {
            return "quire.LedgerEntry";
        }

        @Override
        public Class<LedgerEntry> getCompactClass() {
            return LedgerEntry.class;
        }
    }

    static final class Append implements CompactSerializer<RequestLedger.AppendOutput> {
        @Override
        public RequestLedger.AppendOutput read(CompactReader in) {
            return new RequestLedger.AppendOutput(in.readString("gateway"), in.readString("worker"),
                    in.readInt32("expectedSize"), readOutput(in, "out."));
        }

        @Override
        public void write(CompactWriter out, RequestLedger.AppendOutput a) {
            out.writeString("gateway", a.gateway());
            out.writeString("worker", a.worker());
            out.writeInt32("expectedSize", a.expectedSize());
            writeOutput(out, "out.", a.more());
        }

        @Override
        public String getTypeName() {
            return "quire.LedgerAppend";
        }

        @Override
        public Class<RequestLedger.AppendOutput> getCompactClass() {
            return RequestLedger.AppendOutput.class;
        }
    }

    static final class TakeOver implements CompactSerializer<RequestLedger.TakeOver> {
        @Override
        public RequestLedger.TakeOver read(CompactReader in) {
            return new RequestLedger.TakeOver(in.readString("from"), in.readString("to"));
        }

        @Override
        public void write(CompactWriter out, RequestLedger.TakeOver t) {
            out.writeString("from", t.from());
            out.writeString("to", t.to());
        }

        @Override
        public String getTypeName() {
            return "quire.LedgerTakeOver";
        }

        @Override
        public Class<RequestLedger.TakeOver> getCompactClass() {
            return RequestLedger.TakeOver.class;
        }
    }

    static final class Open implements CompactSerializer<RequestLedger.Open> {
        @Override
        public RequestLedger.Open read(CompactReader in) {
            return new RequestLedger.Open(in.readCompact("entry"));
        }

        @Override
        public void write(CompactWriter out, RequestLedger.Open o) {
            out.writeCompact("entry", o.entry());
        }

        @Override
        public String getTypeName() {
            return "quire.LedgerOpen";
        }

        @Override
        public Class<RequestLedger.Open> getCompactClass() {
            return RequestLedger.Open.class;
        }
    }

    private static void writeSampling(CompactWriter out, SamplingOptions s) {
        out.writeInt32("maxTokens", s.maxTokens());
        out.writeFloat32("temperature", s.temperature());
        out.writeFloat32("topP", s.topP());
        out.writeInt32("topK", s.topK());
        out.writeFloat32("minP", s.minP());
        out.writeNullableInt64("seed", s.seed());
        out.writeArrayOfString("stop", s.stop().toArray(String[]::new));
        out.writeArrayOfInt32("stopTokenIds", s.stopTokenIds());
        out.writeBoolean("ignoreEos", s.ignoreEos());
        out.writeFloat32("repetitionPenalty", s.repetitionPenalty());
        out.writeFloat32("presencePenalty", s.presencePenalty());
        out.writeFloat32("frequencyPenalty", s.frequencyPenalty());
        out.writeInt32("logprobs", s.logprobs());
    }

    private static SamplingOptions readSampling(CompactReader in) {
        String[] stop = in.readArrayOfString("stop");
        return new SamplingOptions(in.readInt32("maxTokens"), in.readFloat32("temperature"), in.readFloat32("topP"),
                in.readInt32("topK"), in.readFloat32("minP"), in.readNullableInt64("seed"),
                stop == null ? List.of() : List.of(stop), in.readArrayOfInt32("stopTokenIds"),
                in.readBoolean("ignoreEos"), in.readFloat32("repetitionPenalty"), in.readFloat32("presencePenalty"),
                in.readFloat32("frequencyPenalty"), in.readInt32("logprobs"));
    }

    /**
     * Log-probabilities travel flat: per token its id's value and how many alternatives follow,
     * then every alternative's id and value in order.
     */
    private static void writeOutput(CompactWriter out, String prefix, GeneratedOutput o) {
        out.writeArrayOfInt32(prefix + "tokenIds", o.tokenIds());
        out.writeString(prefix + "text", o.text());
        TokenLogprobs[] lp = o.logprobs();
        out.writeBoolean(prefix + "hasLogprobs", lp != null);
        int n = lp == null ? 0 : lp.length;
        float[] values = new float[n];
        int[] topCounts = new int[n];
        int alternatives = 0;
        for (int i = 0; i < n; i++) {
            values[i] = lp[i].logprob();
            topCounts[i] = lp[i].topTokenIds().length;
            alternatives += topCounts[i];
        }
        int[] topIds = new int[alternatives];
        float[] topValues = new float[alternatives];
        int at = 0;
        for (int i = 0; i < n; i++) {
            System.arraycopy(lp[i].topTokenIds(), 0, topIds, at, topCounts[i]);
            System.arraycopy(lp[i].topLogprobs(), 0, topValues, at, topCounts[i]);
            at += topCounts[i];
        }
        out.writeArrayOfFloat32(prefix + "logprobs", values);
        out.writeArrayOfInt32(prefix + "topCounts", topCounts);
        out.writeArrayOfInt32(prefix + "topIds", topIds);
        out.writeArrayOfFloat32(prefix + "topLogprobs", topValues);
    }

    private static GeneratedOutput readOutput(CompactReader in, String prefix) {
        int[] ids = in.readArrayOfInt32(prefix + "tokenIds");
        String text = in.readString(prefix + "text");
        TokenLogprobs[] lp = null;
        if (in.readBoolean(prefix + "hasLogprobs")) {
            float[] values = in.readArrayOfFloat32(prefix + "logprobs");
            int[] topCounts = in.readArrayOfInt32(prefix + "topCounts");
            int[] topIds = in.readArrayOfInt32(prefix + "topIds");
            float[] topValues = in.readArrayOfFloat32(prefix + "topLogprobs");
            lp = new TokenLogprobs[values.length];
            int at = 0;
            for (int i = 0; i < lp.length; i++) {
                int k = topCounts[i];
                lp[i] = new TokenLogprobs(ids[i], values[i], java.util.Arrays.copyOfRange(topIds, at, at + k),
                        java.util.Arrays.copyOfRange(topValues, at, at + k));
                at += k;
            }
        }
        return new GeneratedOutput(ids, text == null ? "" : text, lp);
    }
}
