// Chunked Mamba2 scan (SSD, Dao & Gu 2024, section 6) in one pass: one block per
// (batch row, head, 64-channel slice of the head) walks the sequence chunk by chunk with the
// (64 x N) float32 state in registers, so nothing but the inputs, the outputs and the final
// states touches device memory. Per chunk of kQ tokens, with a = cumsum(dt * A):
//   M[i][j] = (C_i . B_j) exp(a_i - a_j) dt_j            (j <= i, same sequence)
//   y_i     = exp(a_i) S C_i + sum_j M[i][j] x_j          (then + D x_i, * silu(z_i))
//   S      <- exp(a_end) S + sum_j exp(a_end - a_j) dt_j x_j B_j^T
// all three as bf16/fp16 tensor-core products with float32 accumulation. The block's four
// warps each own 16 head channels (rows of S and of y^T). Tokens where the sequence id
// changes cut the mask and the carry; varlen states are the state at each sequence's last
// token, reached by applying the state update up to that token first.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "chunk_scan_internal.hpp"
#include "chunk_scan_mma.cuh"
#include "cuda_check.hpp"
#include "element.cuh"

namespace ssmkit::cuda {
namespace {

using mma::cp_async_16;
using mma::ldmatrix_x4;
using mma::ldmatrix_x4_trans;
using mma::smem_addr;
using mma::swizzled;
using mma::SwizzledLane;

constexpr int kQ = 64;         // tokens per chunk (the kernel's own; see the notes)
constexpr int kP = 64;         // head channels per block: 4 warps x 16 rows
constexpr int kThreads = 128;
constexpr int kYPitch = kP + 4;  // floats per staged output row; the pad spreads banks

// Per-chunk scalars, written by warp 0 one chunk ahead (double-buffered).
struct ChunkInfo {
  float acum[kQ];       // inclusive cumsum of dt * A within the chunk
  float dt[kQ];         // processed dt; 0 past the sequence end, which masks those tokens out
  int seg[kQ];          // sequence changes since the chunk start: 0 = the carried state's
  int events[kQ];       // positions of the varlen sequence ends inside the chunk
  int nevents;          // how many
  int first_event;      // index in cu_seqlens of the first of them
  std::int64_t seq[kQ + 1];  // raw sequence ids of the token before the chunk and its tokens
};

template <int kN>
struct Layout {
  static constexpr int kXBytes = kQ * kP * 2;
  static constexpr int kBCBytes = kQ * kN * 2;
  static constexpr int kStageBytes = kXBytes + 2 * kBCBytes;
  static constexpr int kMOffset = 2 * kStageBytes;
  static constexpr int kYOffset = kMOffset + kQ * kQ * 2;
  static constexpr int kInfoOffset = kYOffset + kQ * kYPitch * 4;
  static constexpr int kBytes = kInfoOffset + 2 * static_cast<int>(sizeof(ChunkInfo)) + 16;
  static constexpr int kMinBlocks = kN <= 128 ? 2 : 1;
};

__device__ __forceinline__ float process_dt(float v, float bias, const ChunkScanDeviceArgs& a) {
  v += bias;
  if (a.dt_softplus) v = softplus(v);
  return fminf(fmaxf(v, a.dt_min), a.dt_max);
}

template <class T, int kN>
__global__ void __launch_bounds__(kThreads, Layout<kN>::kMinBlocks)
    chunk_scan_ssd(const ChunkScanDeviceArgs a) {
  using L = Layout<kN>;
  constexpr int kNChunks = kN / 8;  // 16-byte chunks per B/C row
  constexpr int kNT = kN / 8;       // n-tiles of the state
  constexpr int kXChunks = kP / 8;  // 16-byte chunks per x row
  constexpr int kEpi = kQ * kXChunks / kThreads;  // output vectors per thread and chunk
  extern __shared__ __align__(128) unsigned char smem[];
  const std::uint32_t smem_base = smem_addr(smem);
  auto* info = reinterpret_cast<ChunkInfo*>(smem + L::kInfoOffset);
  auto* varlen_next = reinterpret_cast<int*>(smem + L::kInfoOffset + 2 * sizeof(ChunkInfo));
  auto* ystage = reinterpret_cast<float*>(smem + L::kYOffset);
  const std::uint32_t m_base = smem_base + L::kMOffset;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, tq = lane % 4;
  const int H = a.nheads, P = a.headdim, N = a.dstate, G = a.ngroups;
  const int Lseq = static_cast<int>(a.seqlen);
  const int ptiles = (P + kP - 1) / kP;
  const int ptile = blockIdx.x % ptiles, h = blockIdx.x / ptiles;
  const int b = blockIdx.y;
  const int p0 = ptile * kP, grp = h / (H / G);
  // Per-block bases; a token's row is base + t * stride.
  const long long row0 = static_cast<long long>(b) * Lseq;
  const T* x_bh = static_cast<const T*>(a.x) + (row0 * H + h) * P + p0;
  const T* z_bh = a.z ? static_cast<const T*>(a.z) + (row0 * H + h) * P + p0 : nullptr;
  T* out_bh = static_cast<T*>(a.out) + (row0 * H + h) * P + p0;
  const long long xstride = static_cast<long long>(H) * P;
  const T* B_bg = static_cast<const T*>(a.B) + (row0 * G + grp) * N;
  const T* C_bg = static_cast<const T*>(a.C) + (row0 * G + grp) * N;
  const long long bstride = static_cast<long long>(G) * N;
  const T* dt_bh = static_cast<const T*>(a.dt) + row0 * H + h;
  const std::int64_t* seq_b = a.seq_idx ? a.seq_idx + row0 : nullptr;
  const float A = a.A[h];
  const float bias = load_or(a.dt_bias, h, 0.f);
  const int nchunks = (Lseq + kQ - 1) / kQ;

  // ---- asynchronous loads of one chunk's x, B, C tiles (zero-filled past L, P and N) ----
  auto load_chunk = [&](int c) {
    const std::uint32_t stage = smem_base + static_cast<std::uint32_t>(c & 1) * L::kStageBytes;
    const int start = c * kQ, len = min(kQ, Lseq - start);
    {
      // Rows advance by kThreads / kXChunks per step; one running pointer per thread.
      constexpr int kRowStep = kThreads / kXChunks;
      const int r0 = tid / kXChunks, ch = tid % kXChunks;
      const bool ch_ok = p0 + ch * 8 < P;
      const T* src = x_bh + (start + r0) * xstride + ch * 8;
#pragma unroll
      for (int k = 0; k < kQ / kRowStep; ++k) {
        const int r = r0 + k * kRowStep;
        const bool ok = r < len && ch_ok;
        cp_async_16(stage + swizzled(r, ch, kXChunks), ok ? src : x_bh, ok);
        src += kRowStep * xstride;
      }
    }
    {
      constexpr int kRowStep = kThreads / kNChunks > 0 ? kThreads / kNChunks : 1;
      static_assert(kThreads % kNChunks == 0, "B/C rows split evenly over the block");
      const int r0 = tid / kNChunks, ch = tid % kNChunks;
      const bool ch_ok = ch * 8 < N;
      long long off = (start + r0) * bstride + ch * 8;
#pragma unroll
      for (int k = 0; k < kQ / kRowStep; ++k) {
        const int r = r0 + k * kRowStep;
        const bool ok = r < len && ch_ok;
        const std::uint32_t dst = stage + L::kXBytes + swizzled(r, ch, kNChunks);
        cp_async_16(dst, ok ? B_bg + off : B_bg, ok);
        cp_async_16(dst + L::kBCBytes, ok ? C_bg + off : C_bg, ok);
        off += kRowStep * bstride;
      }
    }
  };

  // ---- warp 0: dt, its cumsum, sequence segments and varlen ends of one chunk ----
  // The raw dt of tokens 2 lane, 2 lane + 1 stays in flight in registers until the chunk is
  // prepared (converting it now would wait for the load); the sequence ids travel to shared
  // memory by cp.async so that no 64-bit value stays live across the iteration.
  T raw_dt[2];
  auto prep_load = [&](int c) {
    const int start = c * kQ;
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int t = start + 2 * lane + e;
      raw_dt[e] = t < Lseq ? dt_bh[static_cast<long long>(t) * H] : T(0.f);
    }
    if (seq_b) {
      const std::uint32_t dst = smem_addr(&info[c & 1].seq[0]);
#pragma unroll
      for (int e = 0; e < 3; ++e) {
        const int j = 2 * lane + e - 1;  // -1 .. 64: the token before the chunk, then its tokens
        if ((e < 2 || lane == 31) && start + j < Lseq) {
          const int t = max(start + j, 0);
          asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(dst + (j + 1) * 8),
                       "l"(seq_b + t));
        }
      }
    }
    mma::cp_async_commit();
  };
  auto prep_finish = [&](int c) {
    ChunkInfo& ci = info[c & 1];
    const int start = c * kQ, len = min(kQ, Lseq - start);
    const int j0 = 2 * lane, j1 = j0 + 1;
    const float d0 = j0 < len ? process_dt(to_float(raw_dt[0]), bias, a) : 0.f;
    const float d1 = j1 < len ? process_dt(to_float(raw_dt[1]), bias, a) : 0.f;
    const float pair = d0 * A + d1 * A;
    float incl = pair;
#pragma unroll
    for (int o = 1; o < 32; o *= 2) {
      const float up = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += up;
    }
    ci.dt[j0] = d0;
    ci.dt[j1] = d1;
    ci.acum[j0] = incl - pair + d0 * A;
    ci.acum[j1] = incl;
    int ch0 = 0, ch1 = 0;
    if (seq_b) {
      ch0 = j0 < len && ci.seq[j0 + 1] != ci.seq[j0];
      ch1 = j1 < len && ci.seq[j1 + 1] != ci.seq[j0 + 1];
    }
    int cnt = ch0 + ch1;
#pragma unroll
    for (int o = 1; o < 32; o *= 2) {
      const int up = __shfl_up_sync(0xffffffffu, cnt, o);
      if (lane >= o) cnt += up;
    }
    ci.seg[j0] = cnt - ch1;
    ci.seg[j1] = cnt;
    if (lane == 0) {
      int next = c == 0 ? 0 : *varlen_next;
      ci.nevents = 0;
      ci.first_event = next;
      while (a.cu_seqlens && next < a.nseq) {
        const long long end = a.cu_seqlens[next + 1] - 1;
        if (end >= start + len) break;
        ci.events[ci.nevents++] = static_cast<int>(end - start);
        ++next;
      }
      *varlen_next = next;
    }
  };

  // ---- the running state: rows p0 + 16 warp + {g, g+8}, columns 8 nt + 2 tq + {0, 1} ----
  const int prow = p0 + warp * 16 + g;
  float S[kNT][4];
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int p = prow + 8 * e, n = nt * 8 + 2 * tq;
      float2 v = make_float2(0.f, 0.f);
      if (a.initial_states && p < P && n < N) {
        v = *reinterpret_cast<const float2*>(a.initial_states +
                                             ((static_cast<long long>(b) * H + h) * P + p) * N + n);
      }
      S[nt][2 * e] = v.x;
      S[nt][2 * e + 1] = v.y;
    }
  }
  auto store_state = [&](float* dst) {
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int p = prow + 8 * e, n = nt * 8 + 2 * tq;
        if (p < P && n < N) {
          *reinterpret_cast<float2*>(dst + static_cast<long long>(p) * N + n) =
              make_float2(S[nt][2 * e], S[nt][2 * e + 1]);
        }
      }
    }
  };

  // Epilogue mapping: thread handles channels p0 + 8 ech .. +7 of kEpi tokens.
  const int ech = tid % kXChunks;
  const bool ech_ok = p0 + ech * 8 < P;

  if (warp == 0) prep_load(0);
  load_chunk(0);
  mma::cp_async_commit();
  if (warp == 0) {
    mma::cp_async_wait_all();
    __syncwarp();
    prep_finish(0);
  }

  for (int c = 0; c < nchunks; ++c) {
    const int start = c * kQ, len = min(kQ, Lseq - start);
    const std::uint32_t xs = smem_base + static_cast<std::uint32_t>(c & 1) * L::kStageBytes;
    const std::uint32_t bs = xs + L::kXBytes, cs = bs + L::kBCBytes;
    const ChunkInfo& ci = info[c & 1];
    mma::cp_async_wait_all();
    __syncthreads();  // chunk c's tiles and info visible; everyone is done with chunk c-1
    if (c + 1 < nchunks) {
      if (warp == 0) prep_load(c + 1);
      load_chunk(c + 1);
      mma::cp_async_commit();
    }

    // Lane address patterns: A operands (row-major 16x16), B operands stored [n][k].
    const SwizzledLane<kNChunks> c_as_a(cs, lane % 16, lane / 16);
    const SwizzledLane<kNChunks> c_as_b(cs, lane % 8 + 8 * (lane / 16), (lane / 8) % 2);
    const SwizzledLane<kNChunks> b_as_b(bs, lane % 8 + 8 * (lane / 16), (lane / 8) % 2);

    // ---- M = (C B^T) o decay, rows 16 warp .. +15, causal columns only ----
    {
      float acc[8][4] = {};
#pragma unroll
      for (int kk = 0; kk < kN / 16; ++kk) {
        std::uint32_t af[4];
        ldmatrix_x4(af, c_as_a.at(0, 2 * kk) + warp * 16 * kNChunks * 16);
#pragma unroll
        for (int jp = 0; jp < 4; ++jp) {
          if (jp <= warp) {
            std::uint32_t bf[4];
            ldmatrix_x4(bf, b_as_b.at(16 * jp, 2 * kk));
            mma::mma_16816<T>(acc[2 * jp], af, bf[0], bf[1]);
            mma::mma_16816<T>(acc[2 * jp + 1], af, bf[2], bf[3]);
          }
        }
      }
#pragma unroll
      for (int jt = 0; jt < 8; ++jt) {
        if (jt / 2 <= warp) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int i = warp * 16 + g + 8 * e;
            float m[2];
#pragma unroll
            for (int q = 0; q < 2; ++q) {
              const int j = jt * 8 + 2 * tq + q;
              const bool on = j <= i && ci.seg[i] == ci.seg[j];
              m[q] = on ? acc[jt][2 * e + q] * __expf(ci.acum[i] - ci.acum[j]) * ci.dt[j] : 0.f;
            }
            const std::uint32_t addr = m_base + swizzled(i, jt, kQ / 8) + tq * 4;
            asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(mma::pack2<T>(m[0], m[1]))
                         : "memory");
          }
        }
      }
    }
    __syncthreads();  // M visible

    // ---- y^T (16 channels x kQ tokens): carried state through C, then M x ----
    const SwizzledLane<kQ / 8> m_as_b(m_base, lane % 8 + 8 * (lane / 16), (lane / 8) % 2);
    std::uint32_t xf[kQ / 16][4];  // x^T fragments: channels x tokens
#pragma unroll
    for (int ks = 0; ks < kQ / 16; ++ks) {
      ldmatrix_x4_trans(xf[ks], xs + swizzled(16 * ks + lane % 8 + 8 * (lane / 16),
                                              2 * warp + (lane / 8) % 2, kXChunks));
    }
    {
      float acc[8][4] = {};
#pragma unroll
      for (int kk = 0; kk < kN / 16; ++kk) {
        const std::uint32_t sf[4] = {
            mma::pack2<T>(S[2 * kk][0], S[2 * kk][1]), mma::pack2<T>(S[2 * kk][2], S[2 * kk][3]),
            mma::pack2<T>(S[2 * kk + 1][0], S[2 * kk + 1][1]),
            mma::pack2<T>(S[2 * kk + 1][2], S[2 * kk + 1][3])};
#pragma unroll
        for (int ip = 0; ip < 4; ++ip) {
          std::uint32_t bf[4];
          ldmatrix_x4(bf, c_as_b.at(16 * ip, 2 * kk));
          mma::mma_16816<T>(acc[2 * ip], sf, bf[0], bf[1]);
          mma::mma_16816<T>(acc[2 * ip + 1], sf, bf[2], bf[3]);
        }
      }
#pragma unroll
      for (int it = 0; it < 8; ++it) {
#pragma unroll
        for (int q = 0; q < 2; ++q) {
          const int i = it * 8 + 2 * tq + q;
          const float f = ci.seg[i] == 0 ? __expf(ci.acum[i]) : 0.f;
          acc[it][q] *= f;
          acc[it][2 + q] *= f;
        }
      }
#pragma unroll
      for (int ip = 0; ip < 4; ++ip) {
#pragma unroll
        for (int ks = 0; ks <= ip; ++ks) {
          std::uint32_t bf[4];
          ldmatrix_x4(bf, m_as_b.at(16 * ip, 2 * ks));
          mma::mma_16816<T>(acc[2 * ip], xf[ks], bf[0], bf[1]);
          mma::mma_16816<T>(acc[2 * ip + 1], xf[ks], bf[2], bf[3]);
        }
      }
#pragma unroll
      for (int it = 0; it < 8; ++it) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
#pragma unroll
          for (int q = 0; q < 2; ++q) {
            ystage[(it * 8 + 2 * tq + q) * kYPitch + warp * 16 + g + 8 * e] = acc[it][2 * e + q];
          }
        }
      }
    }

    // z of this chunk's outputs, in flight while the state advances.
    uint4 zr[kEpi];
#pragma unroll
    for (int k = 0; k < kEpi; ++k) {
      const int i = tid / kXChunks + k * (kThreads / kXChunks);
      zr[k] = make_uint4(0, 0, 0, 0);
      if (z_bh && i < len && ech_ok) {
        zr[k] = __ldcs(reinterpret_cast<const uint4*>(z_bh + (start + i) * xstride + ech * 8));
      }
    }

    // ---- state: advance to each varlen end inside the chunk, then to the chunk's end ----
    {
      const SwizzledLane<kNChunks> b_as_bt(bs, lane % 8 + 8 * ((lane / 8) % 2), lane / 16);
      int from = -1, from_seg = 0;
      float from_acum = 0.f;
      const int nev = ci.nevents;
      const bool ends_on_event = nev > 0 && ci.events[nev - 1] == len - 1;
      for (int ev = 0; ev < nev + (ends_on_event ? 0 : 1); ++ev) {
        const int to = ev < nev ? ci.events[ev] : len - 1;
        const int to_seg = ci.seg[to];
        const float to_acum = ci.acum[to];
        const float carry = to_seg == from_seg ? __expf(to_acum - from_acum) : 0.f;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
          for (int r = 0; r < 4; ++r) S[nt][r] *= carry;
        }
#pragma unroll
        for (int ks = 0; ks < kQ / 16; ++ks) {
          if (16 * ks > to || 16 * ks + 15 <= from) continue;
          float w[4];  // tokens 16 ks + 2 tq + {0, 1, 8, 9}
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            const int j = 16 * ks + 2 * tq + (q & 1) + 8 * (q >> 1);
            const bool on = j > from && j <= to && ci.seg[j] == to_seg;
            w[q] = on ? __expf(to_acum - ci.acum[j]) * ci.dt[j] : 0.f;
          }
          std::uint32_t af[4];
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const float2 v = mma::unpack2<T>(xf[ks][r]);
            const int q = 2 * (r >> 1);
            af[r] = mma::pack2<T>(v.x * w[q], v.y * w[q + 1]);
          }
#pragma unroll
          for (int np = 0; np < kN / 16; ++np) {
            std::uint32_t bf[4];
            ldmatrix_x4_trans(bf, b_as_bt.at(16 * ks, 2 * np));
            mma::mma_16816<T>(S[2 * np], af, bf[0], bf[1]);
            mma::mma_16816<T>(S[2 * np + 1], af, bf[2], bf[3]);
          }
        }
        if (ev < nev) {
          store_state(a.varlen_states +
                      (static_cast<long long>(ci.first_event + ev) * H + h) * P * N);
        }
        from = to;
        from_seg = to_seg;
        from_acum = to_acum;
      }
    }
    __syncthreads();  // staged y complete

    // ---- epilogue: y + D x, gated by silu(z), 16-byte stores ----
#pragma unroll
    for (int k = 0; k < kEpi; ++k) {
      const int i = tid / kXChunks + k * (kThreads / kXChunks);
      if (i >= len || !ech_ok) continue;
      const float4 y0 = *reinterpret_cast<const float4*>(ystage + i * kYPitch + ech * 8);
      const float4 y1 = *reinterpret_cast<const float4*>(ystage + i * kYPitch + ech * 8 + 4);
      const float y[8] = {y0.x, y0.y, y0.z, y0.w, y1.x, y1.y, y1.z, y1.w};
      uint4 xv;
      asm volatile("ld.shared.v4.b32 {%0,%1,%2,%3}, [%4];\n"
                   : "=r"(xv.x), "=r"(xv.y), "=r"(xv.z), "=r"(xv.w)
                   : "r"(xs + swizzled(i, ech, kXChunks)));
      const std::uint32_t xw[4] = {xv.x, xv.y, xv.z, xv.w};
      const std::uint32_t zw[4] = {zr[k].x, zr[k].y, zr[k].z, zr[k].w};
      uint4 o;
      std::uint32_t* ow = &o.x;
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const float2 xx = mma::unpack2<T>(xw[r]);
        const int p = p0 + ech * 8 + 2 * r;
        const float2 dd = a.D ? __ldg(reinterpret_cast<const float2*>(a.D + h * P + p))
                              : make_float2(0.f, 0.f);
        float lo = y[2 * r] + dd.x * xx.x, hi = y[2 * r + 1] + dd.y * xx.y;
        if (z_bh) {
          const float2 zz = mma::unpack2<T>(zw[r]);
          lo *= silu(zz.x);
          hi *= silu(zz.y);
        }
        ow[r] = mma::pack2<T>(lo, hi);
      }
      __stcs(reinterpret_cast<uint4*>(out_bh + (start + i) * xstride + ech * 8), o);
    }
    if (warp == 0 && c + 1 < nchunks) {
      mma::cp_async_wait_all();
      __syncwarp();
      prep_finish(c + 1);
    }
  }
  store_state(a.final_states + (static_cast<long long>(b) * H + h) * P * N);
}

template <class T, int kN>
void launch_typed(const ChunkScanDeviceArgs& a, cudaStream_t stream) {
  constexpr int bytes = Layout<kN>::kBytes;
  static const bool configured = [] {
    SSMKIT_CUDA_CHECK(cudaFuncSetAttribute(chunk_scan_ssd<T, kN>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    return true;
  }();
  (void)configured;
  const int ptiles = (a.headdim + kP - 1) / kP;
  const dim3 grid(static_cast<unsigned>(ptiles * a.nheads), static_cast<unsigned>(a.batch));
  chunk_scan_ssd<T, kN><<<grid, kThreads, bytes, stream>>>(a);
  SSMKIT_CHECK_LAUNCH("mamba_chunk_scan_combined");
}

template <class T>
void launch_for_dstate(const ChunkScanDeviceArgs& a, cudaStream_t stream) {
  if (a.dstate <= 64) return launch_typed<T, 64>(a, stream);
  if (a.dstate <= 128) return launch_typed<T, 128>(a, stream);
  launch_typed<T, 256>(a, stream);
}

}  // namespace

bool chunk_scan_ssd_supports(const ChunkScanDeviceArgs& a) {
  // 16-byte rows for the asynchronous copies; the state tile at most 64 x 256 per block.
  return (a.dtype == DType::bfloat16 || a.dtype == DType::float16) && a.headdim % 8 == 0 &&
         a.dstate % 8 == 0 && a.dstate <= 256 && a.batch <= 65535 &&
         static_cast<long long>((a.headdim + kP - 1) / kP) * a.nheads <= 0x7fffffffLL;
}

void launch_chunk_scan_ssd(const ChunkScanDeviceArgs& a, cudaStream_t stream) {
  if (a.dtype == DType::bfloat16) {
    launch_for_dstate<__nv_bfloat16>(a, stream);
  } else {
    launch_for_dstate<__half>(a, stream);
  }
}

}  // namespace ssmkit::cuda
