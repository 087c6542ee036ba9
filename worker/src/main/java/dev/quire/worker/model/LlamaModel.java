package dev.quire.worker.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;

import java.util.List;

/**
 * The Llama forward pass on DJL's PyTorch engine, over a paged KV cache.
 *
 * <p>All matrix work (fused q/k/v, o, fused gate/up, down, LM head) runs once per step on the
 * flattened tokens of every sequence; attention runs as one padded batched matmul per
 * {@link ForwardBatch.AttentionGroup}, gathering each sequence's blocks from the cache. Logits are
 * computed only for the rows that are sampled.
 */
public final class LlamaModel implements AutoCloseable {
    private final ModelConfig config;
    private final NDManager manager;
    private final DataType dtype;
    private final int qDim;
    private final int kvDim;
    private final int half;
    private final float attentionScale;

    private final NDArray embedTokens;   // [vocab, hidden]
    private final NDArray lmHead;        // [hidden, vocab]
    private final NDArray finalNorm;     // [hidden]
    private final NDArray ropeCos;       // [maxPos, headDim / 2]
    private final NDArray ropeSin;
    private final Layer[] layers;
    /** Column slices, parsed once: DJL parses a string index on every call. */
    private final NDIndex qColumns;
    private final NDIndex kColumns;
    private final NDIndex vColumns;
    private final NDIndex gateColumns;
    private final NDIndex upColumns;
    private final NDIndex firstHalf;
    private final NDIndex secondHalf;

    private record Layer(NDArray inputNorm, NDArray qkv, NDArray qkvBias, NDArray o, NDArray postNorm,
                         NDArray gateUp, NDArray down) {
    }

    private LlamaModel(ModelConfig config, NDManager manager, DataType dtype, NDArray embedTokens, NDArray lmHead,
                       NDArray finalNorm, NDArray ropeCos, NDArray ropeSin, Layer[] layers) {
        this.config = config;
        this.manager = manager;
        this.dtype = dtype;
        this.qDim = config.numHeads() * config.headDim();
        this.kvDim = config.kvDim();
        this.half = config.headDim() / 2;
        this.attentionScale = (float) (1.0 / Math.sqrt(config.headDim()));
        this.embedTokens = embedTokens;
        this.lmHead = lmHead;
        this.finalNorm = finalNorm;
        this.ropeCos = ropeCos;
        this.ropeSin = ropeSin;
        this.layers = layers;
        int inter = config.intermediateSize();
        this.qColumns = new NDIndex(":, 0:" + qDim);
        this.kColumns = new NDIndex(":, " + qDim + ":" + (qDim + kvDim));
        this.vColumns = new NDIndex(":, " + (qDim + kvDim) + ":");
        this.gateColumns = new NDIndex(":, 0:" + inter);
        this.upColumns = new NDIndex(":, " + inter + ":");
        this.firstHalf = new NDIndex(":, :, 0:" + half);
        this.secondHalf = new NDIndex(":, :, " + half + ":");
    }

    /**
     * Loads the weights of a validated checkpoint onto {@code device}, fusing q/k/v and gate/up
     * and storing every linear weight as {@code [in, out]} so each projection is one plain matmul.
     */
    public static LlamaModel load(ModelConfig config, SafetensorsCheckpoint checkpoint, Device device,
                                  DataType dtype) {
        LlamaCheckpointLayout.validate(config, checkpoint);
        NDManager manager = NDManager.newBaseManager(device);
        try {
            WeightLoader w = new WeightLoader(checkpoint, manager, dtype);
            int hidden = config.hiddenSize();
            Layer[] layers = new Layer[config.numLayers()];
            for (int i = 0; i < layers.length; i++) {
                String p = "model.layers." + i + ".";
                NDArray qkvBias = config.attentionBias()
                        ? w.concatVector(p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias",
                        p + "self_attn.v_proj.bias")
                        : null;
                layers[i] = new Layer(
                        w.vector(p + "input_layernorm.weight"),
                        w.linear(hidden, p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                                p + "self_attn.v_proj.weight"),
                        qkvBias,
                        w.linear(config.numHeads() * config.headDim(), p + "self_attn.o_proj.weight"),
                        w.vector(p + "post_attention_layernorm.weight"),
                        w.linear(hidden, p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"),
                        w.linear(config.intermediateSize(), p + "mlp.down_proj.weight"));
            }
            NDArray embed = w.matrix("model.embed_tokens.weight", config.vocabSize(), hidden);
            boolean separateHead = !config.tieWordEmbeddings() && checkpoint.tensorNames().contains("lm_head.weight");
            NDArray head = w.linear(hidden, separateHead ? "lm_head.weight" : "model.embed_tokens.weight");
            NDArray norm = w.vector("model.norm.weight");
            NDArray[] rope = ropeTables(config, manager, dtype);
            return new LlamaModel(config, manager, dtype, embed, head, norm, rope[0], rope[1], layers);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    private static NDArray[] ropeTables(ModelConfig config, NDManager manager, DataType dtype) {
        double[] invFreq = config.ropeInverseFrequencies();
        int positions = config.maxPositionEmbeddings();
        int half = invFreq.length;
        float[] cos = new float[positions * half];
        float[] sin = new float[positions * half];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * invFreq[i];
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
        Shape shape = new Shape(positions, half);
        return new NDArray[]{manager.create(cos, shape).toType(dtype, false),
                manager.create(sin, shape).toType(dtype, false)};
    }

    public ModelConfig config() {
        return config;
    }

    public Device device() {
        return manager.getDevice();
    }

    public DataType dtype() {
        return dtype;
    }

    /** Creates a KV cache of {@code numBlocks} blocks on this model's device. */
    public PagedKvCache newKvCache(int numBlocks, int blockSize) {
        return new PagedKvCache(manager, config, numBlocks, blockSize, manager.getDevice(), dtype);
    }

    /**
     * Runs one step: writes the new tokens' K/V into {@code cache} and returns the logits of
     * {@code batch.sampleRows()}, row-major {@code [sampleRows, vocab]} in float32.
     */
    public float[] forward(ForwardBatch batch, PagedKvCache cache) {
        int tokens = batch.numTokens();
        try (NDManager step = manager.newSubManager()) {
            NDArray positions = step.create(toLongs(batch.positions()));
            NDIndex slots = new NDIndex(":, {}", step.create(toLongs(batch.slotMapping())));
            // Results of ops on long-lived arrays belong to those arrays' manager: move them to the step.
            NDArray cos = ownedBy(step, ropeCos.get(positions)).reshape(tokens, 1, half);
            NDArray sin = ownedBy(step, ropeSin.get(positions)).reshape(tokens, 1, half);
            List<PreparedGroup> groups = batch.groups().stream()
                    .map(g -> PreparedGroup.of(g, cache.blockSize(), step, dtype)).toList();

            NDArray h = ownedBy(step, embedTokens.get(step.create(toLongs(batch.tokenIds()))));
            for (int l = 0; l < layers.length; l++) {
                try (NDManager scope = step.newSubManager()) {
                    h.attach(scope);
                    NDArray next = layer(l, h, cos, sin, slots, groups, cache);
                    next.attach(step);
                    h = next;
                }
            }
            NDArray last = h.get(step.create(toLongs(batch.sampleRows())));
            NDArray logits = rmsNorm(last, finalNorm).matMul(lmHead);
            return logits.toType(DataType.FLOAT32, false).toFloatArray();
        }
    }

    private NDArray layer(int l, NDArray h, NDArray cos, NDArray sin, NDIndex slots, List<PreparedGroup> groups,
                          PagedKvCache cache) {
        Layer w = layers[l];
        int tokens = (int) h.getShape().get(0);
        int heads = config.numHeads();
        int kvHeads = config.numKvHeads();
        int headDim = config.headDim();

        NDArray qkv = rmsNorm(h, w.inputNorm).matMul(w.qkv);
        if (w.qkvBias != null) {
            qkv = qkv.add(w.qkvBias);
        }
        NDArray q = rope(qkv.get(qColumns).reshape(tokens, heads, headDim), cos, sin).mul(attentionScale);
        NDArray k = rope(qkv.get(kColumns).reshape(tokens, kvHeads, headDim), cos, sin);
        NDArray v = qkv.get(vColumns).reshape(tokens, kvHeads, headDim);
        // The cache is head-major: write [kvHeads, tokens, headDim] rows at the tokens' slots.
        cache.keySlots(l).set(slots, k.transpose(1, 0, 2));
        cache.valueSlots(l).set(slots, v.transpose(1, 0, 2));

        NDArray attended = attention(q, l, groups, cache);
        NDArray afterAttention = h.add(attended.matMul(w.o));

        NDArray gateUp = rmsNorm(afterAttention, w.postNorm).matMul(w.gateUp);
        NDArray gate = gateUp.get(gateColumns);
        NDArray up = gateUp.get(upColumns);
        return afterAttention.add(gate.mul(Activation.sigmoid(gate)).mul(up).matMul(w.down)); // SiLU(gate) * up
    }

    /** Causal attention of each group's queries over its sequences' cached blocks; returns [tokens, qDim]. */
    private NDArray attention(NDArray q, int layer, List<PreparedGroup> groups, PagedKvCache cache) {
        int kvHeads = config.numKvHeads();
        int perKv = config.numHeads() / kvHeads;
        int headDim = config.headDim();
        NDList outputs = new NDList(groups.size());
        for (PreparedGroup g : groups) {
            int seqs = g.group.numSeqs();
            int queries = g.group.maxQueryLen();
            long context = (long) g.group.maxBlocks() * cache.blockSize();
            NDArray qg = q.get(g.group.tokenOffset() + ":" + (g.group.tokenOffset() + g.group.numTokens()));
            if (g.padRows != null) {
                qg = qg.get(g.padRows);
            }
            // Query head h uses KV head h / perKv: [kvHeads, seqs, perKv * queries, headDim], so one
            // batched matmul per (KV head, sequence) serves all the query heads sharing it.
            qg = qg.reshape(seqs, queries, kvHeads, perKv, headDim).transpose(2, 0, 3, 1, 4)
                    .reshape(kvHeads, seqs, (long) perKv * queries, headDim);
            NDManager scope = q.getManager();
            // Gathering blocks along dim 1 of the head-major cache gives [kvHeads, seqs, blocks, block, headDim].
            NDArray keys = ownedBy(scope, cache.keys(layer).get(g.blockIndex))
                    .reshape(kvHeads, seqs, context, headDim);
            NDArray values = ownedBy(scope, cache.values(layer).get(g.blockIndex))
                    .reshape(kvHeads, seqs, context, headDim);
            NDArray probs = qg.matMul(keys.transpose(0, 1, 3, 2))
                    .reshape(kvHeads, seqs, perKv, queries, context).add(g.maskBias)
                    .softmax(-1).reshape(kvHeads, seqs, (long) perKv * queries, context);
            NDArray out = probs.matMul(values).reshape(kvHeads, seqs, perKv, queries, headDim)
                    .transpose(1, 3, 0, 2, 4).reshape((long) seqs * queries, qDim);
            if (g.unpadRows != null) {
                out = out.get(g.unpadRows);
            }
            outputs.add(out);
        }
        return outputs.size() == 1 ? outputs.get(0) : NDArrays.concat(outputs, 0);
    }

    /** Rotate-half RoPE on [tokens, heads, headDim] with per-token cos/sin [tokens, 1, headDim/2]. */
    private NDArray rope(NDArray x, NDArray cos, NDArray sin) {
        NDArray x1 = x.get(firstHalf);
        NDArray x2 = x.get(secondHalf);
        return x1.mul(cos).sub(x2.mul(sin)).concat(x2.mul(cos).add(x1.mul(sin)), -1);
    }

    private NDArray rmsNorm(NDArray x, NDArray weight) {
        NDArray meanSquare = x.square().mean(new int[]{-1}, true);
        return x.mul(meanSquare.add((float) config.rmsNormEps()).pow(-0.5f)).mul(weight);
    }

    /** Per-step index and mask arrays of one attention group, shared by all layers. */
    private record PreparedGroup(ForwardBatch.AttentionGroup group, NDIndex blockIndex, NDArray maskBias,
                                 NDArray padRows, NDArray unpadRows) {
        static PreparedGroup of(ForwardBatch.AttentionGroup g, int blockSize, NDManager m, DataType dtype) {
            int seqs = g.numSeqs();
            int queries = g.maxQueryLen();
            int context = g.maxBlocks() * blockSize;
            // A flat index gathers faster than a [seqs, blocks] one; the result is reshaped after.
            NDArray tables = m.create(g.blockTables());
            // Position of each (padded) query; padding rows reuse the sequence's first position so
            // they see at least one key and never produce NaN.
            long[] queryPositions = new long[seqs * queries];
            long[] pad = g.uniform() ? null : new long[seqs * queries];
            long[] unpad = g.uniform() ? null : new long[g.numTokens()];
            int row = 0;
            for (int s = 0; s < seqs; s++) {
                int len = g.queryLens()[s];
                for (int j = 0; j < queries; j++) {
                    queryPositions[s * queries + j] = g.startPositions()[s] + Math.min(j, len - 1);
                    if (pad != null) {
                        pad[s * queries + j] = row + Math.min(j, len - 1);
                    }
                }
                if (unpad != null) {
                    for (int j = 0; j < len; j++) {
                        unpad[row + j] = (long) s * queries + j;
                    }
                }
                row += len;
            }
            NDArray keyPositions = m.arange(0, context, 1, DataType.INT64).reshape(1, 1, context);
            NDArray allowed = keyPositions.lte(m.create(queryPositions, new Shape(seqs, queries, 1)));
            Shape maskShape = new Shape(seqs, queries, context);
            NDArray bias = NDArrays.where(allowed, m.zeros(maskShape, dtype),
                    m.full(maskShape, Float.NEGATIVE_INFINITY, dtype)).reshape(1, seqs, 1, queries, context);
            return new PreparedGroup(g, new NDIndex(":, {}", tables), bias, pad == null ? null : m.create(pad),
                    unpad == null ? null : m.create(unpad));
        }
    }

    private static NDArray ownedBy(NDManager manager, NDArray array) {
        array.attach(manager);
        return array;
    }

    private static long[] toLongs(int[] values) {
        long[] out = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    @Override
    public void close() {
        manager.close();
    }
}
