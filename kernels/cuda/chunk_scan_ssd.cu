// Chunked Mamba2 scan (SSD, Dao & Gu 2024, section 6) in one pass: one block per
// (batch row, head, 64-channel slice of the head) walks the sequence chunk by chunk with the
// (64 x N) float32 state in registers, so nothing but the inputs, the outputs and the final
// states touches device memory (and, when the grid is split into two half-sequence segments,
// the midpoint state, handed from the first half's block to the second's). Per chunk of kQ tokens, with a = cumsum(dt * A):
//   M[i][j] = (C_i . B_j) exp(a_i - a_j) dt_j            (j <= i, same sequence)
//   y_i     = exp(a_i) S C_i + sum_j M[i][j] x_j          (then + D x_i, * silu(z_i))
//   S      <- exp(a_end) S + sum_j exp(a_end - a_j) dt_j x_j B_j^T
// all three as bf16/fp16 tensor-core products with float32 accumulation. Eight warps: warp
// (r, c) owns state rows 16r..16r+15 and state columns in half c of N, so each thread keeps
// N/4 state values and two blocks (16 warps) share an SM. The y contribution through the
// state is summed over the two halves in shared memory. Tokens where the sequence id changes
// cut the mask and the carry; varlen states are the state at each sequence's last token,
// reached by applying the state update up to that token first.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "chunk_scan_internal.hpp"
#include "chunk_scan_mma.cuh"
#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"

namespace ssmkit::cuda {
namespace {

using mma::cp_async_16;
using mma::ldmatrix_x4;
using mma::ldmatrix_x4_trans;
using mma::smem_addr;
using mma::swizzled;
using mma::SwizzledLane;

constexpr int kQ = 32;           // tokens per chunk (the kernel's own; see the notes)
constexpr int kP = 64;           // head channels per block: 4 row groups x 16
constexpr int kThreads = 256;    // 8 warps: 4 row groups x 2 halves of N
constexpr int kYPitch = kP + 4;  // floats per staged output row; the pad spreads banks
constexpr int kMPitch = kQ + 8;  // bf16 per row of M; 80-byte rows keep ldmatrix conflict-free

// Per-chunk scalars, written by the prep warp one chunk ahead (double-buffered). Its lane t
// prepares token t.
struct ChunkInfo {
  float acum[kQ];   // inclusive cumsum of dt * A * log2(e) within the chunk: exps are ex2
  float dt[kQ];     // processed dt; 0 past the sequence end, which masks those tokens out
  float cexp[kQ];   // 2^acum where the token continues the carried state's sequence, else 0
  float wend[kQ];   // 2^(acum_end - acum) dt: the token's weight in the chunk-end state
  int seg[kQ];      // sequence changes since the chunk start: 0 = the carried state's
  int events[kQ];   // positions of the varlen sequence ends inside the chunk
  int nevents;      // how many
  int first_event;  // index in cu_seqlens of the first of them
  float carry_end;  // the carried state's factor in the chunk-end state
  int pad;
  std::int64_t seq[kQ + 1];  // raw sequence ids of the token before the chunk and its tokens
};

template <int kN>
struct Layout {
  static constexpr int kXBytes = kQ * kP * 2;
  static constexpr int kBCBytes = kQ * kN * 2;
  static constexpr int kStageBytes = kXBytes + 2 * kBCBytes;
  static constexpr int kMOffset = 2 * kStageBytes;
  static constexpr int kYOffset = kMOffset + kQ * kMPitch * 2;
  static constexpr int kDOffset = kYOffset + 2 * kQ * kYPitch * 4;
  static constexpr int kInfoOffset = kDOffset + kP * 4;
  static constexpr int kBytes = kInfoOffset + 2 * static_cast<int>(sizeof(ChunkInfo)) + 16;
};

template <class T, int kN>
__global__ void __launch_bounds__(kThreads, kN <= 128 ? 2 : 1)
    chunk_scan_ssd(const ChunkScanDeviceArgs a, const int segments) {
  using L = Layout<kN>;
  constexpr int kNChunks = kN / 8;   // 16-byte chunks per B/C row
  constexpr int kHalf = kN / 2;      // state columns per warp
  constexpr int kNT = kHalf / 8;     // their n-tiles
  constexpr int kXChunks = kP / 8;   // 16-byte chunks per x row
  static_assert(kQ * kXChunks == kThreads, "one x vector per thread");
  static_assert(kThreads % kNChunks == 0, "B/C rows split evenly over the block");
  extern __shared__ __align__(128) unsigned char smem[];
  const std::uint32_t smem_base = smem_addr(smem);
  auto* info = reinterpret_cast<ChunkInfo*>(smem + L::kInfoOffset);
  auto* varlen_next = reinterpret_cast<int*>(smem + L::kInfoOffset + 2 * sizeof(ChunkInfo));
  auto* ystage = reinterpret_cast<float*>(smem + L::kYOffset);
  auto* d_s = reinterpret_cast<float*>(smem + L::kDOffset);
  const std::uint32_t m_base = smem_base + L::kMOffset;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, tq = lane % 4;
  const int wr = warp % 4, wc = warp / 4;  // row group, half of N
  const int H = a.nheads, P = a.headdim, N = a.dstate, G = a.ngroups;
  const int Lseq = static_cast<int>(a.seqlen);
  const int ptiles = (P + kP - 1) / kP;
  // Work item = (segment, batch row, head, channel tile), the segment slowest. A second-half
  // item waits for its first half, so split grids hand items out by an atomic ticket rather
  // than by blockIdx: the hardware promises no dispatch order, but a ticket is only taken by
  // a running block, so the first half a waiter needs has a lower ticket and is already
  // resident (the decoupled look-back argument) and the spin always ends.
  const int units = a.batch * H * ptiles;
  int item = blockIdx.x;
  if (segments == 2) {
    __shared__ int ticket;
    if (tid == 0) {
      auto* counter = reinterpret_cast<unsigned*>(static_cast<float*>(a.workspace) +
                                                  static_cast<long long>(units) * kP * N) + units;
      ticket = static_cast<int>(atomicAdd(counter, 1u));
    }
    __syncthreads();
    item = ticket;
  }
  const int unit = item % units, seg = item / units;
  const int b = unit / (H * ptiles), h = unit % (H * ptiles) / ptiles, ptile = unit % ptiles;
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
  const float A2 = a.A[h] * kLog2e;
  const float bias = load_or(a.dt_bias, h, 0.f);
  const int nchunks = (Lseq + kQ - 1) / kQ;
  const int c_begin = seg == 0 ? 0 : nchunks / 2;
  const int c_end = segments == 2 && seg == 0 ? nchunks / 2 : nchunks;
  // Split sequences hand the state at the midpoint over through the workspace: a 64 x N
  // float32 tile per unit, then one ready flag per unit, then the ticket counter.
  float* handoff = nullptr;
  unsigned* ready = nullptr;
  if (segments == 2) {
    auto* ws = static_cast<float*>(a.workspace);
    handoff = ws + static_cast<long long>(unit) * kP * N;
    ready = reinterpret_cast<unsigned*>(ws + static_cast<long long>(units) * kP * N) + unit;
  }

  if (tid < kP) d_s[tid] = (a.D && p0 + tid < P) ? a.D[h * P + p0 + tid] : 0.f;
  // M's block above the diagonal is never computed; zero it once so every read is defined.
  for (int k = tid; k < kQ * kMPitch / 2; k += kThreads) {
    reinterpret_cast<std::uint32_t*>(smem + L::kMOffset)[k] = 0;
  }

  // Each thread moves one 16-byte vector of x (and of z and out): channels p0 + 8 ech .. +7 of
  // token ei of the chunk. Its offset within the chunk is fixed for the walk (32 bits: see
  // chunk_scan_ssd_supports), so a chunk's addresses take one start * stride product each for
  // x/z/out and for B/C instead of a 64-bit row product per access.
  const int ei = tid / kXChunks, ech = tid % kXChunks;
  const bool ech_ok = p0 + ech * 8 < P;
  const int x_off = ei * static_cast<int>(xstride) + ech * 8;
  constexpr int kRowStep = kThreads / kNChunks;
  const int bc_row = tid / kNChunks, bc_ch = tid % kNChunks;
  const bool bc_ch_ok = bc_ch * 8 < N;
  const int bc_off = bc_row * static_cast<int>(bstride) + bc_ch * 8;

  // ---- asynchronous loads of one chunk's x, B, C tiles (zero-filled past L, P and N) ----
  auto load_chunk = [&](int c) {
    const std::uint32_t stage = smem_base + static_cast<std::uint32_t>(c & 1) * L::kStageBytes;
    const int start = c * kQ, len = min(kQ, Lseq - start);
    {
      const bool ok = ei < len && ech_ok;
      cp_async_16(stage + swizzled(ei, ech, kXChunks),
                  ok ? x_bh + start * xstride + x_off : x_bh, ok);
    }
    const T* b_src = B_bg + start * bstride + bc_off;
    const T* c_src = C_bg + start * bstride + bc_off;
#pragma unroll
    for (int k = 0; k < kQ / kRowStep; ++k) {
      const int r = bc_row + k * kRowStep;
      const bool ok = r < len && bc_ch_ok;
      const std::uint32_t dst = stage + L::kXBytes + swizzled(r, bc_ch, kNChunks);
      const long long step = static_cast<long long>(k) * kRowStep * bstride;
      cp_async_16(dst, ok ? b_src + step : B_bg, ok);
      cp_async_16(dst + L::kBCBytes, ok ? c_src + step : C_bg, ok);
    }
  };

  // ---- the prep warp: per-token scalars of one chunk ----
  // The raw dt stays in flight in a register until the chunk is prepared (converting it now
  // would wait for the load); sequence ids travel to shared memory by cp.async.
  T raw_dt;
  auto prep_load = [&](int c) {
    const int t = c * kQ + lane;
    raw_dt = t < Lseq ? dt_bh[static_cast<long long>(t) * H] : T(0.f);
    if (seq_b) {
      const std::uint32_t dst = smem_addr(&info[c & 1].seq[0]);
      if (t < Lseq) {
        asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(dst + (lane + 1) * 8),
                     "l"(seq_b + t));
      }
      if (lane == 0) {
        asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(dst),
                     "l"(seq_b + max(t - 1, 0)));
      }
    }
    mma::cp_async_commit();
  };
  auto prep_finish = [&](int c) {
    ChunkInfo& ci = info[c & 1];
    const int start = c * kQ, len = min(kQ, Lseq - start);
    const int j = lane;
    const float d = j < len ? chunk_scan_dt(to_float(raw_dt), bias, a) : 0.f;
    float acum = d * A2;
#pragma unroll
    for (int o = 1; o < 32; o *= 2) {
      const float up = __shfl_up_sync(0xffffffffu, acum, o);
      if (lane >= o) acum += up;
    }
    int seg = 0;
    if (seq_b) {  // without sequence ids every token continues the carried state
      seg = j < len && ci.seq[j + 1] != ci.seq[j];
#pragma unroll
      for (int o = 1; o < 32; o *= 2) {
        const int up = __shfl_up_sync(0xffffffffu, seg, o);
        if (lane >= o) seg += up;
      }
    }
    const float acum_end = __shfl_sync(0xffffffffu, acum, len - 1);
    const int seg_end = __shfl_sync(0xffffffffu, seg, len - 1);
    ci.acum[j] = acum;
    ci.dt[j] = d;
    ci.seg[j] = seg;
    ci.cexp[j] = seg == 0 ? fast_exp2(acum) : 0.f;
    ci.wend[j] = (j < len && seg == seg_end) ? fast_exp2(acum_end - acum) * d : 0.f;
    if (lane == 0) {
      ci.carry_end = seg_end == 0 ? fast_exp2(acum_end) : 0.f;
      int next = *varlen_next;
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

  // ---- the running state: rows p0 + 16 wr + {g, g+8}, columns kHalf wc + 8 nt + 2 tq + {0,1}
  const int prow = p0 + wr * 16 + g, ncol0 = wc * kHalf + 2 * tq;
  if (seg == 1) {
    if (tid == 0) {
      unsigned flag = 0;
      for (;;) {
        asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(flag) : "l"(ready) : "memory");
        if (flag) break;
        __nanosleep(256);
      }
    }
    __syncthreads();
  }
  float S[kNT][4];
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int p = prow + 8 * e, n = ncol0 + nt * 8;
      float2 v = make_float2(0.f, 0.f);
      if (seg == 1 && p < P && n < N) {
        v = __ldcg(reinterpret_cast<const float2*>(handoff + (p - p0) * N + n));
      } else if (a.initial_states && p < P && n < N) {
        v = *reinterpret_cast<const float2*>(a.initial_states +
                                             ((static_cast<long long>(b) * H + h) * P + p) * N + n);
      }
      S[nt][2 * e] = v.x;
      S[nt][2 * e + 1] = v.y;
    }
  }
  auto store_state = [&](float* dst, int row0) {  // dst row r holds channel row0 + r
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int p = prow + 8 * e, n = ncol0 + nt * 8;
        if (p < P && n < N) {
          *reinterpret_cast<float2*>(dst + static_cast<long long>(p - row0) * N + n) =
              make_float2(S[nt][2 * e], S[nt][2 * e + 1]);
        }
      }
    }
  };

  // Lane addresses into this warp's half of a B/C tile: the half starts hc chunks into each
  // row; whole 8-chunk groups move the tile, the rest joins the lane's chunk (kN = 64).
  const int hc = wc * kHalf / 8;
  auto half_lane = [&](std::uint32_t tile, int lane_row, int lane_chunk) {
    return SwizzledLane<kNChunks>(tile + static_cast<std::uint32_t>(hc & ~7) * 16, lane_row,
                                  lane_chunk + (hc & 7));
  };

  // Warp 7, idle while warps 0-5 compute M, prepares chunk c + 1 then, from raw dt and
  // sequence ids it requested a whole chunk earlier.
  constexpr int kPrepWarp = 7;
  if (warp == kPrepWarp) {
    if (lane == 0) {  // varlen sequences that end before this segment
      int next = 0;
      while (a.cu_seqlens && next < a.nseq && a.cu_seqlens[next + 1] <= c_begin * kQ) ++next;
      *varlen_next = next;
    }
    prep_load(c_begin);
  }
  load_chunk(c_begin);
  mma::cp_async_commit();
  if (warp == kPrepWarp) {
    mma::cp_async_wait_all();
    __syncwarp();
    prep_finish(c_begin);
    if (c_begin + 1 < c_end) prep_load(c_begin + 1);
  }

  // ---- epilogue of a chunk whose y (D x included) is staged: the two halves' sum, gated by
  // silu(z), one 16-byte store. It runs after the next chunk's first barrier, beside that
  // chunk's C . S, instead of behind a barrier of its own; it reads no x, so the copies
  // issued after that barrier overwrite nothing it needs. Its z waits in registers. ----
  auto epilogue = [&](int c, uint4 zv) {
    const int start = c * kQ, len = min(kQ, Lseq - start);
    if (ei < len && ech_ok) {
      const float* y0 = ystage + ei * kYPitch + ech * 8;
      const float* y1 = y0 + kQ * kYPitch;
      const float4 u0 = *reinterpret_cast<const float4*>(y0);
      const float4 u1 = *reinterpret_cast<const float4*>(y0 + 4);
      const float4 v0 = *reinterpret_cast<const float4*>(y1);
      const float4 v1 = *reinterpret_cast<const float4*>(y1 + 4);
      float v[8] = {u0.x + v0.x, u0.y + v0.y, u0.z + v0.z, u0.w + v0.w,
                    u1.x + v1.x, u1.y + v1.y, u1.z + v1.z, u1.w + v1.w};
      const std::uint32_t zw[4] = {zv.x, zv.y, zv.z, zv.w};
      if (z_bh) {
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const float2 zz = mma::unpack2<T>(zw[r]);
          v[2 * r] *= silu(zz.x);
          v[2 * r + 1] *= silu(zz.y);
        }
      }
      uint4 o;
      std::uint32_t* ow = &o.x;
#pragma unroll
      for (int r = 0; r < 4; ++r) ow[r] = mma::pack2<T>(v[2 * r], v[2 * r + 1]);
      __stcs(reinterpret_cast<uint4*>(out_bh + start * xstride + x_off), o);
    }
  };

  uint4 zr = make_uint4(0, 0, 0, 0);  // z of the pending epilogue, in flight until then
  for (int c = c_begin; c < c_end; ++c) {
    const int start = c * kQ, len = min(kQ, Lseq - start);
    const std::uint32_t xs = smem_base + static_cast<std::uint32_t>(c & 1) * L::kStageBytes;
    const std::uint32_t bs = xs + L::kXBytes, cs = bs + L::kBCBytes;
    const ChunkInfo& ci = info[c & 1];
    mma::cp_async_wait_all();
    __syncthreads();  // chunk c's tiles and info visible; chunk c-1 done, its y staged
    if (c > c_begin) epilogue(c - 1, zr);
    // Chunk c+1's tiles go into chunk c-1's stage, last read before the barrier above.
    if (c + 1 < c_end) {
      load_chunk(c + 1);
      mma::cp_async_commit();
    }
    // The reset lets the predicated load write zr directly; keeping the old value where the
    // load is off would join the two in a select that waits for the load, putting its latency
    // back on the loop's path (docs/history/chunk-scan-notes.md, V9).
    zr = make_uint4(0, 0, 0, 0);
    if (z_bh && ei < len && ech_ok) {
      zr = __ldcs(reinterpret_cast<const uint4*>(z_bh + start * xstride + x_off));
    }

    // ---- y^T (16 channels x kQ tokens), first this half's carried-state part (C and S only:
    // it overlaps M's computation on warps 0-5 instead of waiting behind its barrier) ----
    float acc[kQ / 8][4] = {};
    {
      const SwizzledLane<kNChunks> c_as_b = half_lane(cs, lane % 8 + 8 * (lane / 16),
                                                      (lane / 8) % 2);
#pragma unroll
      for (int kk = 0; kk < kHalf / 16; ++kk) {
        // The carried state is float32 and can dominate the output (a large initial state,
        // the first tokens after it): one 16-bit copy of it loses ~3 digits there, so it
        // enters the product as a high and a low 16-bit part.
        std::uint32_t sf[4], sl[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const float a = S[2 * kk + r / 2][2 * (r % 2)], b = S[2 * kk + r / 2][2 * (r % 2) + 1];
          sf[r] = mma::pack2<T>(a, b);
          const float2 h = mma::unpack2<T>(sf[r]);
          sl[r] = mma::pack2<T>(a - h.x, b - h.y);
        }
#pragma unroll
        for (int ip = 0; ip < kQ / 16; ++ip) {
          std::uint32_t bf[4];
          ldmatrix_x4(bf, c_as_b.at(16 * ip, 2 * kk));
          mma::mma_16816<T>(acc[2 * ip], sf, bf[0], bf[1]);
          mma::mma_16816<T>(acc[2 * ip + 1], sf, bf[2], bf[3]);
          mma::mma_16816<T>(acc[2 * ip], sl, bf[0], bf[1]);
          mma::mma_16816<T>(acc[2 * ip + 1], sl, bf[2], bf[3]);
        }
      }
#pragma unroll
      for (int it = 0; it < kQ / 8; ++it) {
#pragma unroll
        for (int q = 0; q < 2; ++q) {
          const float f = ci.cexp[it * 8 + 2 * tq + q];
          acc[it][q] *= f;
          acc[it][2 + q] *= f;
        }
      }
    }
    // ---- M = (C B^T) o decay on the causal 16x16 blocks (0,0), (1,0), (1,1): warps 0-5,
    // one 16x8 tile each ----
    if (warp < 6) {
      const int bi = warp < 2 ? 0 : 1, bj = warp < 4 ? 0 : 1, nt = warp % 2;
      const SwizzledLane<kNChunks> c_as_a(cs, lane % 16, lane / 16);
      const SwizzledLane<kNChunks> b_as_b(bs, lane % 8, lane / 8);  // rows j, 4 k chunks
      float macc[4] = {}, macc2[4] = {};  // two chains of K steps instead of one
      const std::uint32_t a_off = bi * 16 * kNChunks * 16;
      const std::uint32_t b_off = (bj * 16 + nt * 8) * kNChunks * 16;
#pragma unroll
      for (int kk = 0; kk < kN / 16; kk += 2) {
        std::uint32_t af0[4], af1[4], bf[4];
        ldmatrix_x4(af0, c_as_a.at(0, 2 * kk) + a_off);
        ldmatrix_x4(af1, c_as_a.at(0, 2 * kk + 2) + a_off);
        ldmatrix_x4(bf, b_as_b.at(0, 2 * kk) + b_off);
        mma::mma_16816<T>(macc, af0, bf[0], bf[1]);
        mma::mma_16816<T>(macc2, af1, bf[2], bf[3]);
      }
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int i = bi * 16 + g + 8 * e;
        const float acum_i = ci.acum[i];
        const int seg_i = ci.seg[i];
        float m[2];
#pragma unroll
        for (int q = 0; q < 2; ++q) {
          const int j = bj * 16 + nt * 8 + 2 * tq + q;
          const float decay = fast_exp2(fminf(acum_i - ci.acum[j], 0.f)) * ci.dt[j];
          const float keep = (j <= i && seg_i == ci.seg[j]) ? 1.f : 0.f;
          m[q] = (macc[2 * e + q] + macc2[2 * e + q]) * decay * keep;
        }
        const std::uint32_t addr = m_base + (i * kMPitch + bj * 16 + nt * 8 + 2 * tq) * 2;
        asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(mma::pack2<T>(m[0], m[1]))
                     : "memory");
      }
    } else if (warp == kPrepWarp && c + 1 < c_end) {
      prep_finish(c + 1);
      if (c + 2 < c_end) prep_load(c + 2);
    }
    __syncthreads();  // M visible

    // ---- y^T: plus M x for the token tiles of parity wc ----
    std::uint32_t xf[kQ / 16][4];  // x^T fragments: channels x tokens
#pragma unroll
    for (int ks = 0; ks < kQ / 16; ++ks) {
      ldmatrix_x4_trans(xf[ks], xs + swizzled(16 * ks + lane % 8 + 8 * (lane / 16),
                                              2 * wr + (lane / 8) % 2, kXChunks));
    }
    {
      // M x for token tiles wc (one k-step) and wc + 2 (two): rows i of M, all kQ columns j
      // as four 8x8 matrices. Branching on the warp-uniform wc keeps acc indices static.
      auto mx = [&](auto parity) {
        constexpr int kLo = decltype(parity)::value, kHi = kLo + 2;
        std::uint32_t bf[4];
        ldmatrix_x4(bf, m_base + ((kLo * 8 + lane % 8) * kMPitch + (lane / 8) * 8) * 2);
        mma::mma_16816<T>(acc[kLo], xf[0], bf[0], bf[1]);
        ldmatrix_x4(bf, m_base + ((kHi * 8 + lane % 8) * kMPitch + (lane / 8) * 8) * 2);
        mma::mma_16816<T>(acc[kHi], xf[0], bf[0], bf[1]);
        mma::mma_16816<T>(acc[kHi], xf[1], bf[2], bf[3]);
      };
      if (wc == 0) {
        mx(std::integral_constant<int, 0>{});
      } else {
        mx(std::integral_constant<int, 1>{});
      }
      // The first half of N also stages D x, so the epilogue reads no x: x^T's fragments
      // and y^T's accumulators share a layout (rows g, g + 8; token pairs 2 tq).
      const float d[2] = {wc == 0 ? d_s[wr * 16 + g] : 0.f, wc == 0 ? d_s[wr * 16 + g + 8] : 0.f};
#pragma unroll
      for (int it = 0; it < kQ / 8; ++it) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float2 xx = mma::unpack2<T>(xf[it / 2][2 * (it % 2) + e]);
          ystage[(wc * kQ + it * 8 + 2 * tq) * kYPitch + wr * 16 + g + 8 * e] =
              acc[it][2 * e] + d[e] * xx.x;
          ystage[(wc * kQ + it * 8 + 2 * tq + 1) * kYPitch + wr * 16 + g + 8 * e] =
              acc[it][2 * e + 1] + d[e] * xx.y;
        }
      }
    }

    // ---- state: S <- carry S + sum_j w_j x_j B_j^T over this warp's half of N ----
    {
      const SwizzledLane<kNChunks> b_as_bt =
          half_lane(bs, lane % 8 + 8 * ((lane / 8) % 2), lane / 16);
      auto advance = [&](float carry, auto weight) {
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
          for (int r = 0; r < 4; ++r) S[nt][r] *= carry;
        }
#pragma unroll
        for (int ks = 0; ks < kQ / 16; ++ks) {
          float w[4];  // tokens 16 ks + 2 tq + {0, 1, 8, 9}
#pragma unroll
          for (int q = 0; q < 4; ++q) w[q] = weight(16 * ks + 2 * tq + (q & 1) + 8 * (q >> 1));
          std::uint32_t af[4];
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const float2 v = mma::unpack2<T>(xf[ks][r]);
            const int q = 2 * (r >> 1);
            af[r] = mma::pack2<T>(v.x * w[q], v.y * w[q + 1]);
          }
#pragma unroll
          for (int np = 0; np < kHalf / 16; ++np) {
            std::uint32_t bf[4];
            ldmatrix_x4_trans(bf, b_as_bt.at(16 * ks, 2 * np));
            mma::mma_16816<T>(S[2 * np], af, bf[0], bf[1]);
            mma::mma_16816<T>(S[2 * np + 1], af, bf[2], bf[3]);
          }
        }
      };
      const int nev = ci.nevents;
      if (nev == 0) {
        advance(ci.carry_end, [&](int j) { return ci.wend[j]; });
      } else {
        // Varlen ends inside the chunk: advance to each in turn (storing it), then to the end.
        int from = -1, from_seg = 0;
        float from_acum = 0.f;
        const bool ends_on_event = ci.events[nev - 1] == len - 1;
        for (int ev = 0; ev < nev + (ends_on_event ? 0 : 1); ++ev) {
          const int to = ev < nev ? ci.events[ev] : len - 1;
          const int to_seg = ci.seg[to];
          const float to_acum = ci.acum[to];
          advance(to_seg == from_seg ? fast_exp2(to_acum - from_acum) : 0.f, [&](int j) {
            const bool on = j > from && j <= to && ci.seg[j] == to_seg;
            return on ? fast_exp2(to_acum - ci.acum[j]) * ci.dt[j] : 0.f;
          });
          if (ev < nev) {
            store_state(a.varlen_states +
                            (static_cast<long long>(ci.first_event + ev) * H + h) * P * N,
                        0);
          }
          from = to;
          from_seg = to_seg;
          from_acum = to_acum;
        }
      }
    }
  }
  if (c_end > c_begin) {
    __syncthreads();  // the last chunk's staged y complete
    epilogue(c_end - 1, zr);
  }
  if (segments == 2 && seg == 0) {
    store_state(handoff, p0);
    __threadfence();
    __syncthreads();
    if (tid == 0) {
      asm volatile("st.release.gpu.global.u32 [%0], %1;\n" ::"l"(ready), "r"(1u) : "memory");
    }
  } else {
    store_state(a.final_states + (static_cast<long long>(b) * H + h) * P * N, 0);
  }
}

// Whether to run each sequence as two halves. With more (b, h, tile) units than resident
// blocks, the last partial wave of whole sequences costs a full sequence walk; halves make the
// waves finer (640 units on 264 slots: 3 whole walks, or 5 half-walks). A second half starts
// from its first half's state, so two half-walks are the least a split can take.
template <class T, int kN>
int choose_segments(const ChunkScanDeviceArgs& a, long long units, int bytes) {
  const long long nchunks = (a.seqlen + kQ - 1) / kQ;
  if (!a.workspace || nchunks < 4) return 1;
  const int sms = current_sm_count();
  int per_sm = 0;
  SSMKIT_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, chunk_scan_ssd<T, kN>,
                                                                  kThreads, bytes));
  const long long slots = static_cast<long long>(sms) * per_sm;
  if (slots <= 0) return 1;
  const long long whole = (units + slots - 1) / slots;                           // walks
  const long long halves = std::max(2LL, (2 * units + slots - 1) / slots);       // half-walks
  return halves < 2 * whole ? 2 : 1;
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
  const long long units = static_cast<long long>(a.batch) * a.nheads * ((a.headdim + kP - 1) / kP);
  const int segments = choose_segments<T, kN>(a, units, bytes);
  if (segments == 2) {
    auto* flags = static_cast<float*>(a.workspace) + units * kP * a.dstate;
    SSMKIT_CUDA_CHECK(cudaMemsetAsync(flags, 0, (units + 1) * sizeof(unsigned), stream));
  }
  chunk_scan_ssd<T, kN><<<static_cast<unsigned>(segments * units), kThreads, bytes, stream>>>(
      a, segments);
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
  // 16-byte rows for the asynchronous copies; the state tile at most 64 x 256 per block;
  // two blocks per unit must fit a one-dimensional grid.
  const long long units = static_cast<long long>(a.batch) * a.nheads * ((a.headdim + kP - 1) / kP);
  // Offsets within one chunk's rows are 32-bit.
  const long long chunk_span =
      static_cast<long long>(kQ) * std::max<long long>(static_cast<long long>(a.nheads) * a.headdim,
                                                       static_cast<long long>(a.ngroups) * a.dstate);
  return (a.dtype == DType::bfloat16 || a.dtype == DType::float16) && a.headdim % 8 == 0 &&
         a.dstate % 8 == 0 && a.dstate <= 256 && 2 * units <= 0x7fffffffLL &&
         a.seqlen <= 0x7fffffffLL && chunk_span <= 0x7fffffffLL;
}

std::size_t chunk_scan_ssd_workspace_bytes(const ChunkScanDeviceArgs& a) {
  if (!chunk_scan_ssd_supports(a) || (a.seqlen + kQ - 1) / kQ < 4) return 0;
  const long long units = static_cast<long long>(a.batch) * a.nheads * ((a.headdim + kP - 1) / kP);
  return static_cast<std::size_t>(units) * (kP * a.dstate * sizeof(float) + sizeof(unsigned)) +
         sizeof(unsigned);
}

void launch_chunk_scan_ssd(const ChunkScanDeviceArgs& a, cudaStream_t stream) {
  dispatch_tensor_core_activation(a.dtype, [&](auto tag) {
    launch_for_dstate<typename decltype(tag)::type>(a, stream);
  });
}

}  // namespace ssmkit::cuda
