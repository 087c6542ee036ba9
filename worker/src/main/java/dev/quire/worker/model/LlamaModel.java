package dev.quire.worker.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;

import java.util.List;
import java.util.Optional;
import java.util.function.Function;

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

    private final NDArray embedTokens;   // [vocab, hidden]
    private final Projection lmHead;     // [hidden, vocab]
    /** RoPE as x * cos + rotateHalf(x) * sin, with rotateHalf(x) = [x2, x1]: both [maxPos, headDim]. */
    private final NDArray ropeCos;       // [cos, cos]
    private final NDArray ropeSin;       // [-sin, sin]
    private final Layer[] layers;
    /** Column slices, parsed once: DJL parses a string index on every call. */
    private final NDIndex qkColumns;
    private final NDIndex vColumns;
    private final NDIndex queryHeads;
    private final NDIndex keyHeads;
    private final NDIndex gateColumns;
    private final NDIndex upColumns;
    private final NDIndex firstHalf;
    private final NDIndex secondHalf;

    /** One decoder layer. The RMSNorm weights are folded into qkv and gateUp, the attention scale into q. */
    private record Layer(Projection qkv, NDArray qkvBias, Projection o, Projection gateUp, Projection down) {
    }

    /** How the weight matmuls run: MKL's packed GEMM on CPU in float32 when available, else PyTorch's matmul. */
    private final String matmulKernel;
    /** Decode attention straight from the cache (CPU, float32, when built); null gathers the blocks. */
    private final PagedAttentionKernel pagedAttention;

    private LlamaModel(ModelConfig config, NDManager manager, DataType dtype, NDArray embedTokens, Projection lmHead,
                       NDArray ropeCos, NDArray ropeSin, Layer[] layers, String matmulKernel,
                       PagedAttentionKernel pagedAttention) {
        this.config = config;
        this.matmulKernel = matmulKernel;
        this.pagedAttention = pagedAttention;
        this.manager = manager;
        this.dtype = dtype;
        this.qDim = config.numHeads() * config.headDim();
        this.kvDim = config.kvDim();
        int half = config.headDim() / 2;
        this.embedTokens = embedTokens;
        this.lmHead = lmHead;
        this.ropeCos = ropeCos;
        this.ropeSin = ropeSin;
        this.layers = layers;
        int inter = config.intermediateSize();
        this.qkColumns = new NDIndex(":, 0:" + (qDim + kvDim));
        this.queryHeads = new NDIndex(":, 0:" + config.numHeads());
        this.keyHeads = new NDIndex(":, " + config.numHeads() + ":");
        this.vColumns = new NDIndex(":, " + (qDim + kvDim) + ":");
        this.gateColumns = new NDIndex(":, 0:" + inter);
        this.upColumns = new NDIndex(":, " + inter + ":");
        this.firstHalf = new NDIndex(":, :, 0:" + half);
        this.secondHalf = new NDIndex(":, :, " + half + ":");
    }

    /**
     * Loads the weights of a validated checkpoint onto {@code device}, fusing q/k/v and gate/up
     * and storing every linear weight as {@code [in, out]} so each projection is one plain matmul.
     * Each RMSNorm weight is folded into the projection that follows it, and the attention scale
     * 1/sqrt(headDim) into the query columns: (x * g) W = x (diag(g) W), and RoPE is linear.
     */
    public static LlamaModel load(ModelConfig config, SafetensorsCheckpoint checkpoint, Device device,
                                  DataType dtype) {
        return load(config, checkpoint, device, dtype, true, true);
    }

    /**
     * As {@link #load(ModelConfig, SafetensorsCheckpoint, Device, DataType)}, choosing the CPU
     * kernels: {@code packedGemm} false keeps PyTorch's matmul for the weights, {@code nativeAttention}
     * false gathers the KV blocks for decode attention too.
     */
    static LlamaModel load(ModelConfig config, SafetensorsCheckpoint checkpoint, Device device, DataType dtype,
                           boolean packedGemm, boolean nativeAttention) {
        LlamaCheckpointLayout.validate(config, checkpoint);
        boolean cpuFloat = Device.Type.CPU.equals(device.getDeviceType()) && dtype == DataType.FLOAT32;
        Optional<MklPackedGemm> gemm = packedGemm && cpuFloat ? MklPackedGemm.available() : Optional.empty();
        PagedAttentionKernel attention = nativeAttention && cpuFloat
                ? PagedAttentionKernel.available().orElse(null) : null;
        // The packed copy replaces the PyTorch weight, so memory does not grow.
        Function<NDArray, Projection> project = gemm.<Function<NDArray, Projection>>map(g -> weight -> {
            Projection packed = g.pack(weight);
            weight.close();
            return packed;
        }).orElse(Projection::of);
        NDManager manager = NDManager.newBaseManager(device);
        try {
            WeightLoader w = new WeightLoader(checkpoint, manager, dtype);
            int hidden = config.hiddenSize();
            int qDim = config.numHeads() * config.headDim();
            float attentionScale = (float) (1.0 / Math.sqrt(config.headDim()));
            Layer[] layers = new Layer[config.numLayers()];
            for (int i = 0; i < layers.length; i++) {
                String p = "model.layers." + i + ".";
                NDArray qkvBias = config.attentionBias()
                        ? w.concatVector(qDim, attentionScale, p + "self_attn.q_proj.bias",
                        p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias")
                        : null;
                layers[i] = new Layer(
                        project.apply(w.linear(hidden, w.floats(p + "input_layernorm.weight"), qDim, attentionScale,
                                p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                                p + "self_attn.v_proj.weight")),
                        qkvBias,
                        project.apply(w.linear(qDim, p + "self_attn.o_proj.weight")),
                        project.apply(w.linear(hidden, w.floats(p + "post_attention_layernorm.weight"), 0, 1f,
                                p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight")),
                        project.apply(w.linear(config.intermediateSize(), p + "mlp.down_proj.weight")));
            }
            NDArray embed = w.matrix("model.embed_tokens.weight", config.vocabSize(), hidden);
            boolean separateHead = !config.tieWordEmbeddings() && checkpoint.tensorNames().contains("lm_head.weight");
            Projection head = project.apply(w.linear(hidden, w.floats("model.norm.weight"), 0, 1f,
                    separateHead ? "lm_head.weight" : "model.embed_tokens.weight"));
            NDArray[] rope = ropeTables(config, manager, dtype);
            return new LlamaModel(config, manager, dtype, embed, head, rope[0], rope[1], layers,
                    gemm.isPresent() ? "MKL packed GEMM" : "PyTorch matmul", attention);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    private static NDArray[] ropeTables(ModelConfig config, NDManager manager, DataType dtype) {
        double[] invFreq = config.ropeInverseFrequencies();
        int positions = config.maxPositionEmbeddings();
        int half = invFreq.length;
        int headDim = 2 * half;
        float[] cos = new float[positions * headDim];
        float[] sin = new float[positions * headDim];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * invFreq[i];
                float c = (float) Math.cos(angle);
                float s = (float) Math.sin(angle);
                cos[p * headDim + i] = c;
                cos[p * headDim + half + i] = c;
                sin[p * headDim + i] = -s;
                sin[p * headDim + half + i] = s;
            }
        }
        Shape shape = new Shape(positions, headDim);
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

    /** What multiplies the weights, for the start-up log: "MKL packed GEMM" or "PyTorch matmul". */
    public String matmulKernel() {
        return matmulKernel;
    }

    /** How decode attention reads the cache, for the start-up log. */
    public String attentionKernel() {
        return pagedAttention != null ? "native paged kernel" : "block gather";
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
            NDArray cos = ownedBy(step, ropeCos.get(positions)).reshape(tokens, 1, config.headDim());
            NDArray sin = ownedBy(step, ropeSin.get(positions)).reshape(tokens, 1, config.headDim());
            List<PreparedGroup> groups = batch.groups().stream()
                    .map(g -> PreparedGroup.of(g, cache, config.numKvHeads(), step, dtype,
                            pagedAttention != null && g.maxQueryLen() == 1)).toList();

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
            NDArray logits = lmHead.apply(rmsNorm(last));
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

        NDArray qkv = w.qkv.apply(rmsNorm(h));
        if (w.qkvBias != null) {
            qkv = qkv.add(w.qkvBias);
        }
        // Queries and keys rotate together: [tokens, heads + kvHeads, headDim].
        NDArray qk = rope(qkv.get(qkColumns).reshape(tokens, heads + kvHeads, headDim), cos, sin);
        NDArray q = qk.get(queryHeads);
        NDArray k = qk.get(keyHeads);
        NDArray v = qkv.get(vColumns).reshape(tokens, kvHeads, headDim);
        // The cache is head-major: write [kvHeads, tokens, headDim] rows at the tokens' slots.
        cache.keySlots(l).set(slots, k.transpose(1, 0, 2));
        cache.valueSlots(l).set(slots, v.transpose(1, 0, 2));

        NDArray attended = attention(q, l, groups, cache);
        NDArray afterAttention = h.add(w.o.apply(attended));

        NDArray gateUp = w.gateUp.apply(rmsNorm(afterAttention));
        NDArray gate = gateUp.get(gateColumns);
        NDArray up = gateUp.get(upColumns);
        return afterAttention.add(w.down.apply(gate.mul(Activation.sigmoid(gate)).mul(up))); // SiLU(gate) * up
    }

    /** Causal attention of each group's queries over its sequences' cached blocks; returns [tokens, qDim]. */
    private NDArray attention(NDArray q, int layer, List<PreparedGroup> groups, PagedKvCache cache) {
        int kvHeads = config.numKvHeads();
        int perKv = config.numHeads() / kvHeads;
        int headDim = config.headDim();
        NDList outputs = new NDList(groups.size());
        for (PreparedGroup g : groups) {
            if (g.decodeTables != null) {
                NDArray qg = q.get(g.group.tokenOffset() + ":" + (g.group.tokenOffset() + g.group.numTokens()));
                outputs.add(pagedAttention.decode(qg, cache.keyRows(layer), cache.valueRows(layer), kvHeads,
                        g.decodeTables));
                continue;
            }
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
            NDArray keys = gatherRows(cache.keyRows(layer), g.cacheRows, scope)
                    .reshape(kvHeads, seqs, context, headDim);
            NDArray values = gatherRows(cache.valueRows(layer), g.cacheRows, scope)
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

    /**
     * Gathers {@code rows} of a 2-D cache view. Embedding lookup is PyTorch's index_select on dim 0,
     * which copies whole rows; advanced indexing on an inner dimension copies element by element
     * and was 3x slower.
     */
    private static NDArray gatherRows(NDArray table, NDArray rows, NDManager scope) {
        NDArray gathered = table.getNDArrayInternal().embedding(rows, table, SparseFormat.DENSE).singletonOrThrow();
        return ownedBy(scope, gathered);
    }

    /** Rotate-half RoPE on [tokens, heads, headDim] with per-token tables [tokens, 1, headDim] (see ropeCos). */
    private NDArray rope(NDArray x, NDArray cos, NDArray sin) {
        NDArray rotated = x.get(secondHalf).concat(x.get(firstHalf), -1);
        return x.mul(cos).add(rotated.mul(sin));
    }

    /** RMSNorm without its weight, which is folded into the next projection. */
    private NDArray rmsNorm(NDArray x) {
        NDArray meanSquare = x.square().mean(new int[]{-1}, true);
        return x.mul(meanSquare.add((float) config.rmsNormEps()).pow(-0.5f));
    }

    /**
     * Per-step index and mask arrays of one attention group, shared by all layers: block tables and
     * context lengths for the native decode kernel, or gather rows and masks for the PyTorch path.
     */
    private record PreparedGroup(ForwardBatch.AttentionGroup group, NDArray cacheRows, NDArray maskBias,
                                 NDArray padRows, NDArray unpadRows, PagedAttentionKernel.DecodeTables decodeTables) {
        static PreparedGroup of(ForwardBatch.AttentionGroup g, PagedKvCache cache, int kvHeads, NDManager m,
                                DataType dtype, boolean nativeDecode) {
            if (nativeDecode) {
                int[] lens = new int[g.numSeqs()];
                for (int s = 0; s < lens.length; s++) {
                    lens[s] = g.startPositions()[s] + g.queryLens()[s];
                }
                return new PreparedGroup(g, null, null, null, null, PagedAttentionKernel.DecodeTables.of(
                        g.blockTables(), lens, cache.numBlocks(), cache.blockSize()));
            }
            int seqs = g.numSeqs();
            int queries = g.maxQueryLen();
            int context = g.maxBlocks() * cache.blockSize();
            // Row (head * numBlocks + block) of the cache's row view, ordered [kvHeads, seqs, blocks]
            // so the gathered rows reshape to [kvHeads, seqs, context, headDim] without a copy.
            long[] tables = g.blockTables();
            long[] rows = new long[kvHeads * tables.length];
            for (int h = 0; h < kvHeads; h++) {
                long base = (long) h * cache.numBlocks();
                for (int i = 0; i < tables.length; i++) {
                    rows[h * tables.length + i] = base + tables[i];
                }
            }
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
            return new PreparedGroup(g, m.create(rows), bias, pad == null ? null : m.create(pad),
                    unpad == null ? null : m.create(unpad), null);
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
        for (Layer layer : layers) {
            layer.qkv.close();
            layer.o.close();
            layer.gateUp.close();
            layer.down.close();
        }
        lmHead.close();
        manager.close();
    }
}
