/*
 * Decode attention read straight from the paged KV cache, for LlamaModel on CPU.
 *
 * Without it every decode step gathers each sequence's blocks into a dense copy and multiplies
 * against that copy, so the K/V bytes cross memory three times (read, write, read again). Here
 * each cached key and value row is read once, where the block table says it lives, and shared by
 * the query heads of its KV head (GQA).
 *
 * Built by deploy/native-runtime.sh when a C compiler is installed, for the CPU it runs on, and
 * called through JNA (dev.quire.worker.model.PagedAttentionKernel). Without it the model keeps
 * the gather path; both match a double-precision reference within float rounding
 * (PagedAttentionKernelTest, LlamaModelTest).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 16
#define CACHE_LINE_FLOATS 16

/* Blocks sit at random places in a cache far larger than the CPU's, so the hardware prefetcher
 * cannot guess the next one: while row t of a block is computed, ask for row t of the next. */
static inline void prefetch_row(const float *row, int floats) {
    for (int i = 0; i < floats; i += CACHE_LINE_FLOATS) {
        __builtin_prefetch(row + i, 0, 0);
    }
}

/* Dot product in LANES independent partial sums, so the compiler can vectorise it without
 * reassociating floating-point additions. */
static inline float dot(const float *restrict a, const float *restrict b, int n) {
    float lanes[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int j = 0; j < LANES; j++) {
            lanes[j] += a[i + j] * b[i + j];
        }
    }
    float acc = 0.0f;
    for (; i < n; i++) {
        acc += a[i] * b[i];
    }
    for (int j = 0; j < LANES; j++) {
        acc += lanes[j];
    }
    return acc;
}

/* e^x for x <= 0 (scores minus their maximum), written so the loop over scores vectorises:
 * x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor series to r^7 (relative error below 2e-9),
 * 2^n built in the exponent bits. x is clamped at -87 so 2^n stays a normal float; e^-87 is
 * negligible beside the maximum's e^0 = 1 in the softmax sum. */
static inline float exp_nonpositive(float x) {
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f;
    const float ln2_lo = 1.42860682030941723e-6f;
    x = x < -87.0f ? -87.0f : x;
    float n = (float) (int) (x * log2e - 0.5f); /* round half down; x * log2e <= 0 */
    float r = x - n * ln2_hi - n * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t) n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/*
 * For sequences [first_seq, end_seq) of a decode batch (one query token each):
 *   out[s, h, :] = softmax(q[s, h, :] . K[s, 0..len-1, kvh, :]) V[s, 0..len-1, kvh, :]
 * with kvh = h / (heads / kv_heads) and len = context_lens[s] (positions 0..len-1, the query's own
 * position included). q is already scaled by 1/sqrt(head_dim).
 *
 * q, out:        [seqs, heads, head_dim] float32, contiguous
 * keys, values:  [kv_heads, num_blocks, block_size, head_dim] float32, contiguous (one layer)
 * block_tables:  [seqs, max_blocks] physical block ids
 * Returns 0, or -1 when scratch memory could not be allocated (out is then untouched).
 */
int quire_decode_attention(const float *q, const float *keys, const float *values,
                           const int32_t *block_tables, const int32_t *context_lens, float *out,
                           int first_seq, int end_seq, int heads, int kv_heads, int head_dim,
                           int num_blocks, int block_size, int max_blocks) {
    int per_kv = heads / kv_heads;
    size_t context = (size_t) max_blocks * (size_t) block_size;
    float *scores = malloc(sizeof(float) * context * (size_t) per_kv);
    if (scores == NULL) {
        return -1;
    }
    size_t row = (size_t) head_dim;
    for (int s = first_seq; s < end_seq; s++) {
        int len = context_lens[s];
        const int32_t *table = block_tables + (size_t) s * (size_t) max_blocks;
        for (int g = 0; g < kv_heads; g++) {
            size_t head_base = (size_t) g * (size_t) num_blocks;
            const float *qg = q + ((size_t) s * heads + (size_t) g * per_kv) * row;
            float *og = out + ((size_t) s * heads + (size_t) g * per_kv) * row;
            /* Scores: each key row is read once for all per_kv query heads. */
            for (int t0 = 0; t0 < len; t0 += block_size) {
                const float *kb = keys + (head_base + (size_t) table[t0 / block_size]) * block_size * row;
                const float *kn = t0 + block_size < len
                        ? keys + (head_base + (size_t) table[t0 / block_size + 1]) * block_size * row : NULL;
                int in_block = len - t0 < block_size ? len - t0 : block_size;
                for (int t = 0; t < in_block; t++) {
                    if (kn != NULL) {
                        prefetch_row(kn + t * row, head_dim);
                    }
                    for (int h = 0; h < per_kv; h++) {
                        scores[h * context + t0 + t] = dot(qg + h * row, kb + t * row, head_dim);
                    }
                }
            }
            for (int h = 0; h < per_kv; h++) {
                float *sh = scores + h * context;
                float max = sh[0];
                for (int t = 1; t < len; t++) {
                    max = sh[t] > max ? sh[t] : max;
                }
                float sum = 0.0f;
                for (int t = 0; t < len; t++) {
                    sh[t] = exp_nonpositive(sh[t] - max);
                }
                for (int t = 0; t < len; t++) {
                    sum += sh[t];
                }
                float inv = 1.0f / sum;
                for (int t = 0; t < len; t++) {
                    sh[t] *= inv;
                }
                memset(og + h * row, 0, sizeof(float) * row);
            }
            /* Weighted values: each value row is read once for all per_kv query heads. */
            for (int t0 = 0; t0 < len; t0 += block_size) {
                const float *vb = values + (head_base + (size_t) table[t0 / block_size]) * block_size * row;
                const float *vn = t0 + block_size < len
                        ? values + (head_base + (size_t) table[t0 / block_size + 1]) * block_size * row : NULL;
                int in_block = len - t0 < block_size ? len - t0 : block_size;
                for (int t = 0; t < in_block; t++) {
                    const float *v = vb + t * row;
                    if (vn != NULL) {
                        prefetch_row(vn + t * row, head_dim);
                    }
                    for (int h = 0; h < per_kv; h++) {
                        float w = scores[h * context + t0 + t];
                        float *oh = og + h * row;
                        for (int i = 0; i < head_dim; i++) {
                            oh[i] += w * v[i];
                        }
                    }
                }
            }
        }
    }
    free(scores);
    return 0;
}
