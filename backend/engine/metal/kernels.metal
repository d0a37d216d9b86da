// Energy Profiler's Metal kernels: the operations of compute.Backend for
// Apple GPUs. Compiled at first use with newLibraryWithSource:options:error:.
//
// Conventions (the Go side, kernels.go, relies on them):
//   - buffer(0) is the kernel's argument struct, set with setBytes; its
//     fields are all 4-byte scalars, so C++ and Go agree on the layout
//     without padding (checked by a test that parses this file);
//   - buffer(1) … are device buffers, bound at byte offsets;
//   - activations are float; weights are float, half or bfloat16 (read as
//     ushort and widened, so macOS 12 GPUs without bfloat work too);
//   - a threadgroup is NSG simdgroups of 32 threads unless a kernel says
//     otherwise; simd_sum/simd_max do the reductions, as ggml-metal does.
//
// Written for this project after reading ggml-metal.metal's mul_mv,
// rms_norm, rope and soft_max kernels; the layout of work is ours.

#include <metal_stdlib>
using namespace metal;

#define N_SIMDWIDTH 32
#define MV_ROWS 4     // weight rows per threadgroup (one per simdgroup)
#define MV_TOKENS 8   // tokens per threadgroup in mul_mv
#define ATT_BLOCK 1024 // keys per attention block in threadgroup memory
#define ATT_THREADS 128
#define ATT_MAX_HEAD_DIM 256

// ---- weight element loads ------------------------------------------------
//
// load_w(w, i) is element i of a weight row starting at w, as float. For
// the GGUF block types (ggml-common.h's layouts) a row is cols/QK blocks,
// and element i is decoded from its block as ggml's dequantize_row_* does;
// per_block<T>() is how many elements one T holds, so a row of cols elements
// is cols/per_block<T> Ts long.

struct bf16_t { ushort bits; };

// Q8_0: x = d·q, 32 per block.
struct block_q8_0 { half d; char qs[32]; };
// Q4_0: x = d·(q-8), q of x[j] in qs[j]&15 and of x[j+16] in qs[j]>>4.
struct block_q4_0 { half d; uchar qs[16]; };
// Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins: x = d·sc·q - dmin·m.
struct block_q4_K { half d; half dmin; uchar scales[12]; uchar qs[128]; };
// Q5_K: Q4_K with a fifth bit per value from qh.
struct block_q5_K { half d; half dmin; uchar scales[12]; uchar qh[32]; uchar qs[128]; };
// Q6_K: 16 groups of 16 with int8 scales: x = d·sc·(q-32), q 6 bits from ql and qh.
struct block_q6_K { uchar ql[128]; uchar qh[64]; char scales[16]; half d; };

static_assert(sizeof(block_q8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(block_q4_0) == 18, "Q4_0 block is 18 bytes");
static_assert(sizeof(block_q4_K) == 144, "Q4_K block is 144 bytes");
static_assert(sizeof(block_q5_K) == 176, "Q5_K block is 176 bytes");
static_assert(sizeof(block_q6_K) == 210, "Q6_K block is 210 bytes");

template <typename T> constexpr uint per_block() { return 1; }
template <> constexpr uint per_block<block_q8_0>() { return 32; }
template <> constexpr uint per_block<block_q4_0>() { return 32; }
template <> constexpr uint per_block<block_q4_K>() { return 256; }
template <> constexpr uint per_block<block_q5_K>() { return 256; }
template <> constexpr uint per_block<block_q6_K>() { return 256; }

inline float load_w(device const float * w, uint i) { return w[i]; }
inline float load_w(device const half * w, uint i) { return float(w[i]); }
inline float load_w(device const bf16_t * w, uint i) { return as_type<float>(uint(w[i].bits) << 16); }

inline float load_w(device const block_q8_0 * w, uint i) {
    device const block_q8_0 & b = w[i / 32];
    return float(b.d) * float(b.qs[i % 32]);
}

inline float load_w(device const block_q4_0 * w, uint i) {
    device const block_q4_0 & b = w[i / 32];
    const uint j = i % 32;
    const int q = j < 16 ? int(b.qs[j] & 15) : int(b.qs[j - 16] >> 4);
    return float(b.d) * float(q - 8);
}

// The 6-bit scale and min of sub-block j (ggml's get_scale_min_k4).
inline uchar2 scale_min_k4(uint j, device const uchar * q) {
    // Explicit uchar(): the expressions are int after promotion, and MSL's
    // vector constructors may not narrow implicitly.
    if (j < 4) {
        return uchar2(uchar(q[j] & 63), uchar(q[j + 4] & 63));
    }
    return uchar2(uchar((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)), uchar((q[j + 4] >> 4) | ((q[j] >> 6) << 4)));
}

inline float load_w(device const block_q4_K * w, uint i) {
    device const block_q4_K & b = w[i / 256];
    const uint j = i % 256, c = j / 64, l = j % 32, high = (j % 64) / 32;
    const uchar2 sm = scale_min_k4(2 * c + high, b.scales);
    const uchar qb = b.qs[32 * c + l];
    const float q = float(high ? qb >> 4 : qb & 15);
    return float(b.d) * float(sm.x) * q - float(b.dmin) * float(sm.y);
}

inline float load_w(device const block_q5_K * w, uint i) {
    device const block_q5_K & b = w[i / 256];
    const uint j = i % 256, c = j / 64, l = j % 32, high = (j % 64) / 32;
    const uint sub = 2 * c + high;
    const uchar2 sm = scale_min_k4(sub, b.scales);
    const uchar qb = b.qs[32 * c + l];
    const uint q = uint(high ? qb >> 4 : qb & 15) + (uint((b.qh[l] >> sub) & 1) << 4);
    return float(b.d) * float(sm.x) * float(q) - float(b.dmin) * float(sm.y);
}

inline float load_w(device const block_q6_K * w, uint i) {
    device const block_q6_K & b = w[i / 256];
    const uint j = i % 256, n = j / 128, quarter = (j % 128) / 32, l = j % 32;
    device const uchar * ql = b.ql + 64 * n;
    device const uchar * qh = b.qh + 32 * n;
    device const char * sc = b.scales + 8 * n;
    const uchar lo = quarter & 1 ? ql[l + 32] : ql[l];
    const uint q = uint(quarter < 2 ? lo & 0xF : lo >> 4) | (uint((qh[l] >> (2 * quarter)) & 3) << 4);
    return float(b.d) * float(sc[l / 16 + 2 * quarter]) * float(int(q) - 32);
}

// load_w8(w, c, v) sets v[0..7] to elements c … c+7 of a row (c a multiple
// of 8), the same values as load_w. For the block types the 8 elements lie
// in one sub-block (Q4_K/Q5_K: 32 values, Q6_K: 16), so its scales are read
// and combined once for all 8 instead of once per element.
template <typename T>
inline void load_w8(device const T * w, uint c, thread float * v) {
    for (uint i = 0; i < 8; ++i) {
        v[i] = load_w(w, c + i);
    }
}

inline void load_w8(device const block_q8_0 * w, uint c, thread float * v) {
    device const block_q8_0 & b = w[c / 32];
    const float d = float(b.d);
    device const char * q = b.qs + c % 32;
    for (uint i = 0; i < 8; ++i) {
        v[i] = d * float(q[i]);
    }
}

inline void load_w8(device const block_q4_0 * w, uint c, thread float * v) {
    device const block_q4_0 & b = w[c / 32];
    const uint j = c % 32;
    const float d = float(b.d);
    device const uchar * q = b.qs + j % 16;
    const uint shift = j < 16 ? 0 : 4;
    for (uint i = 0; i < 8; ++i) {
        v[i] = d * float(int((q[i] >> shift) & 15) - 8);
    }
}

inline void load_w8(device const block_q4_K * w, uint c, thread float * v) {
    device const block_q4_K & b = w[c / 256];
    const uint j = c % 256, cc = j / 64, l = j % 32, high = (j % 64) / 32;
    const uchar2 sm = scale_min_k4(2 * cc + high, b.scales);
    const float d = float(b.d) * float(sm.x), m = float(b.dmin) * float(sm.y);
    device const uchar * q = b.qs + 32 * cc + l;
    const uint shift = 4 * high;
    for (uint i = 0; i < 8; ++i) {
        v[i] = d * float((q[i] >> shift) & 15) - m;
    }
}

inline void load_w8(device const block_q5_K * w, uint c, thread float * v) {
    device const block_q5_K & b = w[c / 256];
    const uint j = c % 256, cc = j / 64, l = j % 32, high = (j % 64) / 32;
    const uint sub = 2 * cc + high;
    const uchar2 sm = scale_min_k4(sub, b.scales);
    const float d = float(b.d) * float(sm.x), m = float(b.dmin) * float(sm.y);
    device const uchar * q = b.qs + 32 * cc + l;
    device const uchar * qh = b.qh + l;
    const uint shift = 4 * high;
    for (uint i = 0; i < 8; ++i) {
        const uint qv = uint((q[i] >> shift) & 15) + (uint((qh[i] >> sub) & 1) << 4);
        v[i] = d * float(qv) - m;
    }
}

inline void load_w8(device const block_q6_K * w, uint c, thread float * v) {
    device const block_q6_K & b = w[c / 256];
    const uint j = c % 256, n = j / 128, quarter = (j % 128) / 32, l = j % 32;
    device const uchar * ql = b.ql + 64 * n + (quarter & 1 ? 32 : 0) + l;
    device const uchar * qh = b.qh + 32 * n + l;
    const float d = float(b.d) * float(b.scales[8 * n + l / 16 + 2 * quarter]);
    const uint shift = quarter < 2 ? 0 : 4, hshift = 2 * quarter;
    for (uint i = 0; i < 8; ++i) {
        const uint qv = uint((ql[i] >> shift) & 0xF) | (uint((qh[i] >> hshift) & 3) << 4);
        v[i] = d * float(int(qv) - 32);
    }
}

// ---- matrix product: out[t*rows + r] = Σ_c w[r, c]·x[t*cols + c] (+ bias[r])

struct MulMVArgs {
    uint rows;
    uint cols;
    uint n;        // tokens
    uint has_bias;
};

// One simdgroup per weight row and MV_TOKENS tokens: the lanes stride over
// the columns, so the row is read once for all of them; grid
// (ceil(rows/MV_ROWS), ceil(n/MV_TOKENS)), MV_ROWS*32 threads. Float rows
// go one element per lane and step; block-quantized rows (whole blocks, so
// cols is a multiple of 32) go 8 consecutive elements per lane and step,
// decoded with their sub-block's scales once (load_w8).
template <typename T>
void mul_mv_impl(constant MulMVArgs & args, device const T * w, device const float * x,
                 device float * out, device const float * bias,
                 uint2 tgpig, ushort tiisg, ushort sgitg) {
    const uint row = tgpig.x * MV_ROWS + sgitg;
    if (row >= args.rows) {
        return;
    }
    const uint t0 = tgpig.y * MV_TOKENS;
    const uint nt = min(uint(MV_TOKENS), args.n - t0);
    device const T * wr = w + (ulong) row * (args.cols / per_block<T>());
    float acc[MV_TOKENS] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (per_block<T>() == 1) {
        for (uint c = tiisg; c < args.cols; c += N_SIMDWIDTH) {
            const float wv = load_w(wr, c);
            for (uint t = 0; t < MV_TOKENS; ++t) {
                if (t < nt) {
                    acc[t] += wv * x[(ulong) (t0 + t) * args.cols + c];
                }
            }
        }
    } else {
        float wv[8];
        for (uint c = 8 * tiisg; c < args.cols; c += 8 * N_SIMDWIDTH) {
            load_w8(wr, c, wv);
            for (uint t = 0; t < MV_TOKENS; ++t) {
                if (t < nt) {
                    device const float * xt = x + (ulong) (t0 + t) * args.cols + c;
                    float s = 0.0f;
                    for (uint i = 0; i < 8; ++i) {
                        s += wv[i] * xt[i];
                    }
                    acc[t] += s;
                }
            }
        }
    }
    for (uint t = 0; t < MV_TOKENS; ++t) {
        const float s = simd_sum(acc[t]);
        if (tiisg == 0 && t < nt) {
            out[(ulong) (t0 + t) * args.rows + row] = s + (args.has_bias ? bias[row] : 0.0f);
        }
    }
}

kernel void mul_mv_f32(constant MulMVArgs & args [[buffer(0)]],
                       device const float * w [[buffer(1)]], device const float * x [[buffer(2)]],
                       device float * out [[buffer(3)]], device const float * bias [[buffer(4)]],
                       uint2 tgpig [[threadgroup_position_in_grid]],
                       ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mv_impl<float>(args, w, x, out, bias, tgpig, tiisg, sgitg);
}

kernel void mul_mv_f16(constant MulMVArgs & args [[buffer(0)]],
                       device const half * w [[buffer(1)]], device const float * x [[buffer(2)]],
                       device float * out [[buffer(3)]], device const float * bias [[buffer(4)]],
                       uint2 tgpig [[threadgroup_position_in_grid]],
                       ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mv_impl<half>(args, w, x, out, bias, tgpig, tiisg, sgitg);
}

kernel void mul_mv_bf16(constant MulMVArgs & args [[buffer(0)]],
                        device const bf16_t * w [[buffer(1)]], device const float * x [[buffer(2)]],
                        device float * out [[buffer(3)]], device const float * bias [[buffer(4)]],
                        uint2 tgpig [[threadgroup_position_in_grid]],
                        ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mv_impl<bf16_t>(args, w, x, out, bias, tgpig, tiisg, sgitg);
}

// The GGUF block types: the same kernel, decoding each block as it reads.
kernel void mul_mv_q8_0(constant MulMVArgs & args [[buffer(0)]],
                       device const block_q8_0 * w [[buffer(1)]], device const float * x [[buffer(2)]],
                       device float * out [[buffer(3)]], device const float * bias [[buffer(4)]],
                       uint2 tgpig [[threadgroup_position_in_grid]],
                       ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mv_impl<block_q8_0>(args, w, x, out, bias, tgpig, tiisg, sgitg);
}

kernel void mul_mv_q4_0(constant MulMVArgs & args [[buffer(0)]],
                       device const block_q4_0 * w [[buffer(1)]], device const float * x [[buffer(2)]],
                       device float * out [[buffer(3)]], device const float * bias [[buffer(4)]],
                       uint2 tgpig [[threadgroup_position_in_grid]],
                       ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mv_impl<block_q4_0>(args, w, x, out, bias, tgpig, tiisg, sgitg);
}

kernel void mul_mv_q4_k(constant MulMVArgs & args [[buffer(0)]],
                       device const block_q4_K * w [[buffer(1)]], device const float * x [[buffer(2)]],
                       device float * out [[buffer(3)]], device const float * bias [[buffer(4)]],
                       uint2 tgpig [[threadgroup_position_in_grid]],
                       ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mv_impl<block_q4_K>(args, w, x, out, bias, tgpig, tiisg, sgitg);
}

kernel void mul_mv_q5_k(constant MulMVArgs & args [[buffer(0)]],
                       device const block_q5_K * w [[buffer(1)]], device const float * x [[buffer(2)]],
                       device float * out [[buffer(3)]], device const float * bias [[buffer(4)]],
                       uint2 tgpig [[threadgroup_position_in_grid]],
                       ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mv_impl<block_q5_K>(args, w, x, out, bias, tgpig, tiisg, sgitg);
}

kernel void mul_mv_q6_k(constant MulMVArgs & args [[buffer(0)]],
                       device const block_q6_K * w [[buffer(1)]], device const float * x [[buffer(2)]],
                       device float * out [[buffer(3)]], device const float * bias [[buffer(4)]],
                       uint2 tgpig [[threadgroup_position_in_grid]],
                       ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mv_impl<block_q6_K>(args, w, x, out, bias, tgpig, tiisg, sgitg);
}

// ---- embedding rows: out[t*cols + c] = table[ids[t], c] --------------------

struct EmbedArgs {
    uint cols;
    uint n;
};

// grid (ceil(cols/256), n), 256 threads.
template <typename T>
void embed_impl(constant EmbedArgs & args, device const T * table, device const uint * ids,
                device float * out, uint2 tgpig, uint tpitg) {
    const uint c = tgpig.x * 256 + tpitg;
    const uint t = tgpig.y;
    if (c >= args.cols || t >= args.n) {
        return;
    }
    out[(ulong) t * args.cols + c] = load_w(table + (ulong) ids[t] * (args.cols / per_block<T>()), c);
}

kernel void embed_f32(constant EmbedArgs & args [[buffer(0)]], device const float * table [[buffer(1)]],
                      device const uint * ids [[buffer(2)]], device float * out [[buffer(3)]],
                      uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]]) {
    embed_impl<float>(args, table, ids, out, tgpig, tpitg);
}

kernel void embed_f16(constant EmbedArgs & args [[buffer(0)]], device const half * table [[buffer(1)]],
                      device const uint * ids [[buffer(2)]], device float * out [[buffer(3)]],
                      uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]]) {
    embed_impl<half>(args, table, ids, out, tgpig, tpitg);
}

kernel void embed_bf16(constant EmbedArgs & args [[buffer(0)]], device const bf16_t * table [[buffer(1)]],
                       device const uint * ids [[buffer(2)]], device float * out [[buffer(3)]],
                       uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]]) {
    embed_impl<bf16_t>(args, table, ids, out, tgpig, tpitg);
}

kernel void embed_q8_0(constant EmbedArgs & args [[buffer(0)]], device const block_q8_0 * table [[buffer(1)]],
                      device const uint * ids [[buffer(2)]], device float * out [[buffer(3)]],
                      uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]]) {
    embed_impl<block_q8_0>(args, table, ids, out, tgpig, tpitg);
}

kernel void embed_q4_0(constant EmbedArgs & args [[buffer(0)]], device const block_q4_0 * table [[buffer(1)]],
                      device const uint * ids [[buffer(2)]], device float * out [[buffer(3)]],
                      uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]]) {
    embed_impl<block_q4_0>(args, table, ids, out, tgpig, tpitg);
}

kernel void embed_q4_k(constant EmbedArgs & args [[buffer(0)]], device const block_q4_K * table [[buffer(1)]],
                      device const uint * ids [[buffer(2)]], device float * out [[buffer(3)]],
                      uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]]) {
    embed_impl<block_q4_K>(args, table, ids, out, tgpig, tpitg);
}

kernel void embed_q5_k(constant EmbedArgs & args [[buffer(0)]], device const block_q5_K * table [[buffer(1)]],
                      device const uint * ids [[buffer(2)]], device float * out [[buffer(3)]],
                      uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]]) {
    embed_impl<block_q5_K>(args, table, ids, out, tgpig, tpitg);
}

kernel void embed_q6_k(constant EmbedArgs & args [[buffer(0)]], device const block_q6_K * table [[buffer(1)]],
                      device const uint * ids [[buffer(2)]], device float * out [[buffer(3)]],
                      uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]]) {
    embed_impl<block_q6_K>(args, table, ids, out, tgpig, tpitg);
}

// ---- RMSNorm: out = x·rsqrt(mean(x²)+eps)·w, one threadgroup per row -------

struct RMSNormArgs {
    uint dim;
    uint rows;
    float eps;
};

// Sum of v over the threadgroup (ntg threads, a multiple of 32), using
// shared[0..31]; every thread gets the result.
inline float threadgroup_sum(float v, threadgroup float * shared, ushort tiisg, ushort sgitg, uint ntg) {
    v = simd_sum(v);
    if (tiisg == 0) {
        shared[sgitg] = v;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    const uint nsg = ntg / N_SIMDWIDTH;
    float s = tiisg < nsg ? shared[tiisg] : 0.0f;
    s = simd_sum(s);
    threadgroup_barrier(mem_flags::mem_threadgroup); // shared may be reused next
    return s;
}

inline float threadgroup_max(float v, threadgroup float * shared, ushort tiisg, ushort sgitg, uint ntg) {
    v = simd_max(v);
    if (tiisg == 0) {
        shared[sgitg] = v;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    const uint nsg = ntg / N_SIMDWIDTH;
    float s = tiisg < nsg ? shared[tiisg] : -FLT_MAX;
    s = simd_max(s);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    return s;
}

// grid (rows), 256 threads. out may be x: every thread reads its own
// elements before writing them.
kernel void rms_norm(constant RMSNormArgs & args [[buffer(0)]], device const float * x [[buffer(1)]],
                     device const float * w [[buffer(2)]], device float * out [[buffer(3)]],
                     uint tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]],
                     uint ntg [[threads_per_threadgroup]],
                     ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    threadgroup float shared[N_SIMDWIDTH];
    if (tgpig >= args.rows) {
        return; // whole threadgroup: uniform
    }
    device const float * xr = x + (ulong) tgpig * args.dim;
    device float * outr = out + (ulong) tgpig * args.dim;
    float ss = 0.0f;
    for (uint i = tpitg; i < args.dim; i += ntg) {
        ss += xr[i] * xr[i];
    }
    ss = threadgroup_sum(ss, shared, tiisg, sgitg, ntg);
    const float scale = 1.0f / sqrt(ss / float(args.dim) + args.eps);
    for (uint i = tpitg; i < args.dim; i += ntg) {
        outr[i] = xr[i] * scale * w[i];
    }
}

// ---- RoPE, rotate_half pairing (i, i+rot/2) --------------------------------

struct RoPEArgs {
    uint n;
    uint heads;
    uint head_dim;
    uint rot_dim;
    uint pos0;
};

// One thread per (token, head, i < rot/2); grid ceil(total/256), 256 threads.
kernel void rope(constant RoPEArgs & args [[buffer(0)]], device float * x [[buffer(1)]],
                 device const float * cosv [[buffer(2)]], device const float * sinv [[buffer(3)]],
                 uint gid [[thread_position_in_grid]]) {
    const uint half_dim = args.rot_dim / 2;
    const uint total = args.n * args.heads * half_dim;
    if (gid >= total) {
        return;
    }
    const uint i = gid % half_dim;
    const uint h = (gid / half_dim) % args.heads;
    const uint t = gid / (half_dim * args.heads);
    device float * v = x + ((ulong) t * args.heads + h) * args.head_dim;
    const uint p = (args.pos0 + t) * half_dim + i;
    const float c = cosv[p], s = sinv[p];
    const float x0 = v[i], x1 = v[i + half_dim];
    v[i] = x0 * c - x1 * s;
    v[i + half_dim] = x1 * c + x0 * s;
}

// ---- causal attention over the KV cache ------------------------------------

struct AttentionArgs {
    uint n;
    uint pos0;
    uint heads;
    uint kv_heads;
    uint head_dim;
    uint window;   // 0: full causal
    float scale;
    uint stats;    // 1: write (entropy, weights < 1e-3) per (query, head)
};

// One threadgroup of ATT_THREADS per (head, query): grid (heads, n). Keys are
// taken in blocks of ATT_BLOCK whose scores sit in threadgroup memory, with
// the running max and sum of an online softmax (as flash attention does),
// so any context length fits. Thread d owns output dims d and d+128.
kernel void attention(constant AttentionArgs & args [[buffer(0)]],
                      device const float * q [[buffer(1)]], device const float * k [[buffer(2)]],
                      device const float * v [[buffer(3)]], device float * out [[buffer(4)]],
                      device float * stats [[buffer(5)]],
                      uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]],
                      ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    threadgroup float sc[ATT_BLOCK];
    threadgroup float qs[ATT_MAX_HEAD_DIM];
    threadgroup float shared[N_SIMDWIDTH];

    const uint h = tgpig.x, t = tgpig.y;
    if (h >= args.heads || t >= args.n) {
        return;
    }
    const uint hd = args.head_dim;
    const uint kv_dim = args.kv_heads * hd;
    const uint koff = (h / (args.heads / args.kv_heads)) * hd;
    const uint pos = args.pos0 + t;
    const uint first = (args.window > 0 && pos + 1 > args.window) ? pos + 1 - args.window : 0;

    device const float * qv = q + ((ulong) t * args.heads + h) * hd;
    for (uint d = tpitg; d < hd; d += ATT_THREADS) {
        qs[d] = qv[d];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);

    float m = -FLT_MAX, S = 0.0f; // finite: no infinities reach exp

    float acc0 = 0.0f, acc1 = 0.0f;
    for (uint b0 = first; b0 <= pos; b0 += ATT_BLOCK) {
        const uint bl = min(uint(ATT_BLOCK), pos + 1 - b0);
        float bm = -FLT_MAX;
        for (uint j = tpitg; j < bl; j += ATT_THREADS) {
            device const float * kr = k + (ulong) (b0 + j) * kv_dim + koff;
            float s = 0.0f;
            for (uint d = 0; d < hd; ++d) {
                s += qs[d] * kr[d];
            }
            s *= args.scale;
            sc[j] = s;
            bm = max(bm, s);
        }
        bm = threadgroup_max(bm, shared, tiisg, sgitg, ATT_THREADS);
        const float mn = max(m, bm);
        const float alpha = b0 == first ? 0.0f : exp(m - mn);
        float bs = 0.0f;
        for (uint j = tpitg; j < bl; j += ATT_THREADS) {
            const float p = exp(sc[j] - mn);
            sc[j] = p;
            bs += p;
        }
        bs = threadgroup_sum(bs, shared, tiisg, sgitg, ATT_THREADS); // its barrier publishes sc
        S = S * alpha + bs;
        acc0 *= alpha;
        acc1 *= alpha;
        for (uint j = 0; j < bl; ++j) {
            device const float * vr = v + (ulong) (b0 + j) * kv_dim + koff;
            const float p = sc[j];
            if (tpitg < hd) {
                acc0 += p * vr[tpitg];
            }
            if (tpitg + ATT_THREADS < hd) {
                acc1 += p * vr[tpitg + ATT_THREADS];
            }
        }
        m = mn;
        threadgroup_barrier(mem_flags::mem_threadgroup); // sc is rewritten by the next block
    }
    device float * o = out + ((ulong) t * args.heads + h) * hd;
    const float inv = 1.0f / S;
    if (tpitg < hd) {
        o[tpitg] = acc0 * inv;
    }
    if (tpitg + ATT_THREADS < hd) {
        o[tpitg + ATT_THREADS] = acc1 * inv;
    }

    if (args.stats == 0) {
        return; // uniform over the threadgroup
    }
    // Deep depth: entropy and small weights of the final softmax row, from
    // the scores recomputed with the final max and sum.
    float ent = 0.0f, small = 0.0f;
    for (uint j = first + tpitg; j <= pos; j += ATT_THREADS) {
        device const float * kr = k + (ulong) j * kv_dim + koff;
        float s = 0.0f;
        for (uint d = 0; d < hd; ++d) {
            s += qs[d] * kr[d];
        }
        const float p = exp(s * args.scale - m) * inv;
        if (p < 1e-3f) {
            small += 1.0f;
        }
        if (p > 0.0f) {
            ent -= p * log(p);
        }
    }
    ent = threadgroup_sum(ent, shared, tiisg, sgitg, ATT_THREADS);
    small = threadgroup_sum(small, shared, tiisg, sgitg, ATT_THREADS);
    if (tpitg == 0) {
        stats[((ulong) t * args.heads + h) * 2 + 0] = ent;
        stats[((ulong) t * args.heads + h) * 2 + 1] = small;
    }
}

// ---- element-wise ----------------------------------------------------------

struct EltArgs {
    uint n;
    float s;
};

// gate[i] = silu(gate[i])·up[i]; grid ceil(n/256), 256 threads.
kernel void swiglu(constant EltArgs & args [[buffer(0)]], device float * gate [[buffer(1)]],
                   device const float * up [[buffer(2)]], uint gid [[thread_position_in_grid]]) {
    if (gid >= args.n) {
        return;
    }
    const float g = gate[gid];
    gate[gid] = g / (1.0f + exp(-g)) * up[gid];
}

// gate[i] = gelu_tanh(gate[i])·up[i].
kernel void geglu(constant EltArgs & args [[buffer(0)]], device float * gate [[buffer(1)]],
                  device const float * up [[buffer(2)]], uint gid [[thread_position_in_grid]]) {
    if (gid >= args.n) {
        return;
    }
    const float g = gate[gid];
    const float c = 0.7978845608028654f; // sqrt(2/pi)
    gate[gid] = 0.5f * g * (1.0f + precise::tanh(c * (g + 0.044715f * g * g * g))) * up[gid];
}

// x[i] *= s.
kernel void scale(constant EltArgs & args [[buffer(0)]], device float * x [[buffer(1)]],
                  uint gid [[thread_position_in_grid]]) {
    if (gid < args.n) {
        x[gid] *= args.s;
    }
}

// dst[i] += s·src[i] (Add is s = 1).
kernel void add_scaled(constant EltArgs & args [[buffer(0)]], device float * dst [[buffer(1)]],
                       device const float * src [[buffer(2)]], uint gid [[thread_position_in_grid]]) {
    if (gid < args.n) {
        dst[gid] += args.s * src[gid];
    }
}

// ---- MoE: gather routed rows, scatter weighted outputs back -----------------

struct RowsArgs {
    uint width;
    uint count;
};

// dst[j*width + c] = src[rows[j]*width + c]; grid (ceil(width/256), count).
kernel void gather_rows(constant RowsArgs & args [[buffer(0)]], device const float * src [[buffer(1)]],
                        device const uint * rows [[buffer(2)]], device float * dst [[buffer(3)]],
                        uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]]) {
    const uint c = tgpig.x * 256 + tpitg, j = tgpig.y;
    if (c < args.width && j < args.count) {
        dst[(ulong) j * args.width + c] = src[(ulong) rows[j] * args.width + c];
    }
}

// dst[rows[j]*width + c] += weights[j]·src[j*width + c]; rows are distinct.
kernel void scatter_add(constant RowsArgs & args [[buffer(0)]], device const float * src [[buffer(1)]],
                        device const uint * rows [[buffer(2)]], device const float * weights [[buffer(3)]],
                        device float * dst [[buffer(4)]],
                        uint2 tgpig [[threadgroup_position_in_grid]], uint tpitg [[thread_index_in_threadgroup]]) {
    const uint c = tgpig.x * 256 + tpitg, j = tgpig.y;
    if (c < args.width && j < args.count) {
        dst[(ulong) rows[j] * args.width + c] += weights[j] * src[(ulong) j * args.width + c];
    }
}

// ---- activation statistics (tracing) ---------------------------------------

struct ProbeArgs {
    uint n;
    float small;
};

// One threadgroup (of any multiple of 32 threads) over all n elements; writes
// (Σx, Σx², max|x|, #|x|<small, #x<0) to out[0..4].
kernel void probe(constant ProbeArgs & args [[buffer(0)]], device const float * x [[buffer(1)]],
                  device float * out [[buffer(2)]],
                  uint tpitg [[thread_index_in_threadgroup]], uint ntg [[threads_per_threadgroup]],
                  ushort tiisg [[thread_index_in_simdgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    threadgroup float shared[N_SIMDWIDTH];
    float s = 0.0f, sq = 0.0f, mx = 0.0f, below = 0.0f, neg = 0.0f;
    for (uint i = tpitg; i < args.n; i += ntg) {
        const float v = x[i];
        s += v;
        sq += v * v;
        mx = max(mx, fabs(v));
        below += fabs(v) < args.small ? 1.0f : 0.0f;
        neg += v < 0.0f ? 1.0f : 0.0f;
    }
    s = threadgroup_sum(s, shared, tiisg, sgitg, ntg);
    sq = threadgroup_sum(sq, shared, tiisg, sgitg, ntg);
    mx = threadgroup_max(mx, shared, tiisg, sgitg, ntg);
    below = threadgroup_sum(below, shared, tiisg, sgitg, ntg);
    neg = threadgroup_sum(neg, shared, tiisg, sgitg, ntg);
    if (tpitg == 0) {
        out[0] = s;
        out[1] = sq;
        out[2] = mx;
        out[3] = below;
        out[4] = neg;
    }
}
