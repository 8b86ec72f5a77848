// Chunked Mamba2 scan (SSD) for Hopper with warpgroup products (wgmma, sm_90a): the common
// prefill case of chunk_scan_ssd.cu (no sequence ids, dstate 128, whole 64-channel tiles)
// with the per-chunk work split over four warpgroups that hand tiles over through named
// barriers instead of stopping the block:
//   producer: copies chunk c's x, B, C, z tiles (three stages) and prepares its dt scalars,
//             as two halves of two warps on even and odd chunks, so that two chunks' copies
//             are in flight: one half waits for its copies while the other issues the next;
//   state:    owns the 64 x 128 float32 state S as two wgmma accumulators, stages it in
//             shared memory (bf16/fp16 hi + lo) for the output warpgroups, then applies
//             S <- exp(a_end) S + sum_j exp(a_end - a_j) dt_j x_j B_j^T as 8 products;
//   output (two, even and odd chunks, so one's arithmetic overlaps the other's products):
//             M = C B^T, y = exp(a_i) C . (S_hi + S_lo) + (M o decay, causal) x, D x, silu(z);
//             x and z go to registers while the last product runs, and the stage is released
//             before the epilogue's arithmetic and stores.
// Chunk c's tiles (stage c % 3) are read by the state warpgroup and by output warpgroup
// c % 2, its staged state (buffer c % 2) by output warpgroup c % 2 alone. Three stages, so
// that the copies of chunk c + 2 run while both output warpgroups work.
// Every product is a 64 x 64 wgmma over a 64-token chunk that reads B, C, x and the staged
// state straight from shared memory, one instruction per warpgroup instead of the mma.sync
// kernel's per-warp ldmatrix and mma. Numerics as there: x weighted and M rounded to the input
// type, the carried state split into hi + lo so C . S keeps ~2^-17 of S (notes: "V5").
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <cstdint>

#include "chunk_scan_internal.hpp"
#include "chunk_scan_mma.cuh"
#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "wgmma.cuh"

namespace ssmkit::cuda {
namespace {

using mma::cp_async_16;
using mma::pack2;
using mma::smem_addr;
using mma::unpack2;
using wgmma::plane_offset;

constexpr int kQ = 64;   // tokens per chunk
constexpr int kP = 64;   // channels per block
constexpr int kN = 128;  // state size
constexpr int kThreads = 512;
constexpr int kStateWG = 0, kProducerWG = 3;  // warpgroups 1 and 2 compute the output
constexpr int kProducerHalf = 64;             // threads that copy one chunk
// Stage barriers count one producer half, the state warpgroup and one output warpgroup;
// state barriers the state warpgroup and one output warpgroup.
constexpr int kStageParties = kProducerHalf + 256, kStateParties = 256;
// The producer gives registers to the others (setmaxnreg): 128 x 56 + 384 x 152 = 65536.
constexpr int kProducerRegs = 56, kConsumerRegs = 152;

// Shared memory, from a 1024-byte-aligned base: kStages stages of input tiles and of
// per-token scalars, two staged states.
constexpr int kXOff = 0;                    // x: kQ x kP, one plane
constexpr int kBOff = kQ * kP * 2;          // B: kQ x kN, two planes
constexpr int kCOff = kBOff + kQ * kN * 2;  // C: kQ x kN
constexpr int kZOff = kCOff + kQ * kN * 2;  // z: kQ x kP
constexpr int kStageBytes = kZOff + kQ * kP * 2;
constexpr int kStages = 3;
constexpr int kSOff = kStages * kStageBytes;  // S hi then S lo: kP x kN each
constexpr int kSBytes = 2 * kP * kN * 2;
constexpr int kInfoOff = kSOff + 2 * kSBytes;

struct alignas(16) ChunkInfo {
  float acum[kQ];  // inclusive cumsum of dt * A * log2(e): exps are ex2
  float dt[kQ];    // processed dt, 0 past the sequence end (masks those tokens out)
  float cexp[kQ];  // 2^acum: the carried state's factor at each token
  float wend[kQ];  // 2^(acum_end - acum) dt: each token's weight in the chunk-end state
  float carry_end;
};
constexpr int kBytes = kInfoOff + kStages * static_cast<int>(sizeof(ChunkInfo)) + 1024;

// Named barriers (0 is __syncthreads). Full/empty: producer <-> the stage's consumers;
// ready/free: the state warpgroup's staged S <-> the output warpgroup reading it. The parties
// reach a barrier from different code, so the barriers are the non-.aligned kind.
constexpr int kFull = 1, kEmpty = kFull + kStages, kSReady = kEmpty + kStages, kSFree = kSReady + 2;

__device__ __forceinline__ void bar_sync(int id, int count) {
  asm volatile("barrier.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
__device__ __forceinline__ void bar_arrive(int id, int count) {
  asm volatile("barrier.arrive %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
__device__ __forceinline__ void st_shared(std::uint32_t addr, std::uint32_t v) {
  asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(addr), "r"(v) : "memory");
}

template <class T>
__device__ __forceinline__ std::uint32_t scaled(std::uint32_t v, float w0, float w1) {
  const float2 f = unpack2<T>(v);
  return pack2<T>(f.x * w0, f.y * w1);
}

template <class T>
__global__ void __launch_bounds__(kThreads, 1) chunk_scan_wgmma(const ChunkScanDeviceArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const std::uint32_t raw = smem_addr(smem_raw);
  const std::uint32_t pad = (1024u - (raw & 1023u)) & 1023u;
  const std::uint32_t base = raw + pad;
  auto* info = reinterpret_cast<ChunkInfo*>(smem_raw + pad + kInfoOff);

  const int tid = threadIdx.x, wg = tid / 128, wtid = tid % 128;
  const int warp = wtid / 32, lane = tid % 32, g = lane / 4, tq = lane % 4;
  const int H = a.nheads, P = a.headdim, G = a.ngroups;
  const int Lseq = static_cast<int>(a.seqlen);
  const int ptiles = P / kP;
  const int unit = blockIdx.x;
  const int b = unit / (H * ptiles), h = unit % (H * ptiles) / ptiles, p0 = unit % ptiles * kP;
  const int grp = h / (H / G);
  const long long row0 = static_cast<long long>(b) * Lseq;
  const long long xstride = static_cast<long long>(H) * P, bstride = static_cast<long long>(G) * kN;
  const T* x_bh = static_cast<const T*>(a.x) + (row0 * H + h) * P + p0;
  const int nchunks = (Lseq + kQ - 1) / kQ;

  if (wg == kProducerWG) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kProducerRegs));
    const T* z_bh = a.z ? static_cast<const T*>(a.z) + (row0 * H + h) * P + p0 : nullptr;
    const T* B_bg = static_cast<const T*>(a.B) + (row0 * G + grp) * kN;
    const T* C_bg = static_cast<const T*>(a.C) + (row0 * G + grp) * kN;
    const T* dt_bh = static_cast<const T*>(a.dt) + row0 * H + h;
    const float A2 = a.A[h] * kLog2e;
    const float bias = load_or(a.dt_bias, h, 0.f);
    // Half `half` copies the chunks of its parity; chunk c + 3 reuses chunk c's stage and
    // barriers and belongs to the other half.
    const int half = wtid / kProducerHalf, htid = wtid % kProducerHalf;
    for (int c = half; c < nchunks; c += 2) {
      const int s = c % kStages;
      if (c >= kStages) bar_sync(kEmpty + s, kStageParties);
      const std::uint32_t stage = base + static_cast<std::uint32_t>(s * kStageBytes);
      const int start = c * kQ, len = min(kQ, Lseq - start);
      // Unrolled fully, the copy loops' addresses spill under the producer's 56 registers.
#pragma unroll 4
      for (int k = 0; k < kQ * 8 / kProducerHalf; ++k) {  // x and z: kQ rows of 8 vectors
        const int r = htid / 8 + kProducerHalf / 8 * k, ch = htid % 8;
        const bool ok = r < len;
        const long long src = (start + r) * xstride + ch * 8;
        cp_async_16(stage + kXOff + plane_offset(r, ch * 8, kQ), ok ? x_bh + src : x_bh, ok);
        if (z_bh) {
          cp_async_16(stage + kZOff + plane_offset(r, ch * 8, kQ), ok ? z_bh + src : z_bh, ok);
        }
      }
#pragma unroll 4
      for (int k = 0; k < kQ * 16 / kProducerHalf; ++k) {  // B and C: kQ rows of 16 vectors
        const int r = htid / 16 + kProducerHalf / 16 * k, ch = htid % 16;
        const bool ok = r < len;
        const long long src = (start + r) * bstride + ch * 8;
        const std::uint32_t dst = plane_offset(r, ch * 8, kQ);
        cp_async_16(stage + kBOff + dst, ok ? B_bg + src : B_bg, ok);
        cp_async_16(stage + kCOff + dst, ok ? C_bg + src : C_bg, ok);
      }
      mma::cp_async_commit();
      if (htid < 32) {  // lane l prepares tokens 2l and 2l + 1
        ChunkInfo& ci = info[s];
        const int j = 2 * lane;
        const float d0 =
            j < len
                ? chunk_scan_dt(to_float(dt_bh[(start + j) * static_cast<long long>(H)]), bias, a)
                : 0.f;
        const float d1 =
            j + 1 < len ? chunk_scan_dt(
                              to_float(dt_bh[(start + j + 1) * static_cast<long long>(H)]), bias, a)
                        : 0.f;
        const float a0 = d0 * A2, pair = a0 + d1 * A2;
        float incl = pair;
#pragma unroll
        for (int o = 1; o < 32; o *= 2) {
          const float up = __shfl_up_sync(0xffffffffu, incl, o);
          if (lane >= o) incl += up;
        }
        const float acum0 = incl - pair + a0, acum1 = incl;
        const float acum_end = __shfl_sync(0xffffffffu, incl, 31);  // dt is 0 past len
        *reinterpret_cast<float2*>(&ci.acum[j]) = make_float2(acum0, acum1);
        *reinterpret_cast<float2*>(&ci.dt[j]) = make_float2(d0, d1);
        *reinterpret_cast<float2*>(&ci.cexp[j]) = make_float2(fast_exp2(acum0), fast_exp2(acum1));
        *reinterpret_cast<float2*>(&ci.wend[j]) =
            make_float2(fast_exp2(acum_end - acum0) * d0, fast_exp2(acum_end - acum1) * d1);
        if (lane == 0) ci.carry_end = fast_exp2(acum_end);
      }
      mma::cp_async_wait_all();
      wgmma::fence_shared_for_async();
      bar_arrive(kFull + s, kStageParties);
    }
    return;
  }
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kConsumerRegs));

  if (wg == kStateWG) {
    // S[hf][i]: channel p0 + 16 warp + g + 8 ((i / 2) % 2), state column 64 hf + 8 (i / 4) + 2 tq +
    // i % 2.
    float S[2][32];
    const long long state0 = ((static_cast<long long>(b) * H + h) * P + p0) * kN;
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
#pragma unroll
      for (int i = 0; i < 32; i += 2) {
        const int p = 16 * warp + g + 8 * ((i / 2) % 2), n = 64 * hf + 8 * (i / 4) + 2 * tq;
        float2 v = make_float2(0.f, 0.f);
        if (a.initial_states)
          v = *reinterpret_cast<const float2*>(a.initial_states + state0 + p * kN + n);
        S[hf][i] = v.x;
        S[hf][i + 1] = v.y;
      }
    }
    for (int c = 0; c < nchunks; ++c) {
      const int s = c % kStages, k = c & 1;
      if (c >= 2) bar_sync(kSFree + k, kStateParties);
      const std::uint32_t s_hi = base + static_cast<std::uint32_t>(kSOff + k * kSBytes);
      const std::uint32_t s_lo = s_hi + kP * kN * 2;
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
#pragma unroll
        for (int i = 0; i < 32; i += 2) {
          const int p = 16 * warp + g + 8 * ((i / 2) % 2), n = 64 * hf + 8 * (i / 4) + 2 * tq;
          const std::uint32_t hi = pack2<T>(S[hf][i], S[hf][i + 1]);
          const float2 hf2 = unpack2<T>(hi);
          const std::uint32_t off = plane_offset(p, n, kP);
          st_shared(s_hi + off, hi);
          st_shared(s_lo + off, pack2<T>(S[hf][i] - hf2.x, S[hf][i + 1] - hf2.y));
        }
      }
      wgmma::fence_shared_for_async();
      bar_arrive(kSReady + k, kStateParties);

      bar_sync(kFull + s, kStageParties);
      const ChunkInfo& ci = info[s];
      const std::uint32_t stage = base + static_cast<std::uint32_t>(s * kStageBytes);
      // x'^T = (x weighted by wend)^T as register A fragments: rows = this warp's 16
      // channels, k = tokens, from ldmatrix.trans of the x tile.
      std::uint32_t xa[4][4];
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        const int row = 16 * kk + (lane / 16) * 8 + lane % 8,
                  col = 16 * warp + ((lane / 8) % 2) * 8;
        mma::ldmatrix_x4_trans(xa[kk], stage + kXOff + plane_offset(row, col, kQ));
        const float2 w0 = *reinterpret_cast<const float2*>(&ci.wend[16 * kk + 2 * tq]);
        const float2 w8 = *reinterpret_cast<const float2*>(&ci.wend[16 * kk + 2 * tq + 8]);
        xa[kk][0] = scaled<T>(xa[kk][0], w0.x, w0.y);
        xa[kk][1] = scaled<T>(xa[kk][1], w0.x, w0.y);
        xa[kk][2] = scaled<T>(xa[kk][2], w8.x, w8.y);
        xa[kk][3] = scaled<T>(xa[kk][3], w8.x, w8.y);
      }
      const float carry = ci.carry_end;
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
#pragma unroll
        for (int i = 0; i < 32; ++i) S[hf][i] *= carry;
      }
      wgmma::fence();
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
          wgmma::mma_rs<T>(S[hf], xa[kk], wgmma::mn_major(stage + kBOff + hf * kQ * 128, kk));
        }
      }
      wgmma::commit();
      wgmma::wait<0>();
      wgmma::pin(S[0]);
      wgmma::pin(S[1]);
      if (c + kStages < nchunks) bar_arrive(kEmpty + s, kStageParties);
    }
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
#pragma unroll
      for (int i = 0; i < 32; i += 2) {
        const int p = 16 * warp + g + 8 * ((i / 2) % 2), n = 64 * hf + 8 * (i / 4) + 2 * tq;
        *reinterpret_cast<float2*>(a.final_states + state0 + p * kN + n) =
            make_float2(S[hf][i], S[hf][i + 1]);
      }
    }
    return;
  }

  // Output warpgroups: chunks of parity wg - 1. A thread's rows are tokens i0 = 16 warp + g
  // and i1 = i0 + 8; its columns channels (y) or tokens (M) 8 c8 + 2 tq + {0, 1}.
  T* out_bh = static_cast<T*>(a.out) + (row0 * H + h) * P + p0;
  const int i0 = 16 * warp + g, i1 = i0 + 8;
  float dvals[16];
#pragma unroll
  for (int c8 = 0; c8 < 8; ++c8) {
    dvals[2 * c8] = load_or(a.D, h * P + p0 + 8 * c8 + 2 * tq, 0.f);
    dvals[2 * c8 + 1] = load_or(a.D, h * P + p0 + 8 * c8 + 2 * tq + 1, 0.f);
  }
  const bool gated = a.z != nullptr;
  for (int c = wg - 1; c < nchunks; c += 2) {
    const int s = c % kStages, k = c & 1;
    const int start = c * kQ, len = min(kQ, Lseq - start);
    bar_sync(kFull + s, kStageParties);
    bar_sync(kSReady + k, kStateParties);
    const ChunkInfo& ci = info[s];
    const std::uint32_t stage = base + static_cast<std::uint32_t>(s * kStageBytes);
    const std::uint32_t s_hi = base + static_cast<std::uint32_t>(kSOff + k * kSBytes);
    const std::uint32_t s_lo = s_hi + kP * kN * 2;
    float M[32], Y[32];
    wgmma::fence();
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
      wgmma::mma_ss<T>(M, wgmma::k_major(stage + kCOff, kQ, kk),
                       wgmma::k_major(stage + kBOff, kQ, kk), kk > 0);
    }
    wgmma::commit();
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
      wgmma::mma_ss<T>(Y, wgmma::k_major(stage + kCOff, kQ, kk), wgmma::k_major(s_hi, kP, kk),
                       kk > 0);
    }
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
      wgmma::mma_ss<T>(Y, wgmma::k_major(stage + kCOff, kQ, kk), wgmma::k_major(s_lo, kP, kk),
                       true);
    }
    wgmma::commit();
    wgmma::wait<1>();
    wgmma::pin(M);
    // M' = M o 2^(acum_i - acum_j) dt_j on and below the diagonal, as register A fragments.
    const float ai0 = ci.acum[i0], ai1 = ci.acum[i1];
    std::uint32_t ma[4][4];
#pragma unroll
    for (int c8 = 0; c8 < 8; ++c8) {
      const int j = 8 * c8 + 2 * tq;
      const float2 aj = *reinterpret_cast<const float2*>(&ci.acum[j]);
      const float2 dj = *reinterpret_cast<const float2*>(&ci.dt[j]);
      const float m00 = j <= i0 ? M[4 * c8] * fast_exp2(ai0 - aj.x) * dj.x : 0.f;
      const float m01 = j + 1 <= i0 ? M[4 * c8 + 1] * fast_exp2(ai0 - aj.y) * dj.y : 0.f;
      const float m10 = j <= i1 ? M[4 * c8 + 2] * fast_exp2(ai1 - aj.x) * dj.x : 0.f;
      const float m11 = j + 1 <= i1 ? M[4 * c8 + 3] * fast_exp2(ai1 - aj.y) * dj.y : 0.f;
      ma[c8 / 2][2 * (c8 % 2)] = pack2<T>(m00, m01);
      ma[c8 / 2][2 * (c8 % 2) + 1] = pack2<T>(m10, m11);
    }
    wgmma::wait<0>();
    wgmma::pin(Y);
    if (c + 2 < nchunks) bar_arrive(kSFree + k, kStateParties);
    const float ce0 = ci.cexp[i0], ce1 = ci.cexp[i1];
#pragma unroll
    for (int c8 = 0; c8 < 8; ++c8) {
      Y[4 * c8] *= ce0;
      Y[4 * c8 + 1] *= ce0;
      Y[4 * c8 + 2] *= ce1;
      Y[4 * c8 + 3] *= ce1;
    }
    wgmma::fence();
#pragma unroll
    for (int kk = 0; kk < kQ / 16; ++kk)
      wgmma::mma_rs<T>(Y, ma[kk], wgmma::mn_major(stage + kXOff, kk));
    wgmma::commit();
    // The epilogue's x and z as pairs in Y's layout: xf/zf[q][m] holds row i0 + 8 (m % 2),
    // channels 8 (2q + m / 2) + 2 tq + {0, 1}. Read now, while the product runs, so that
    // the stage goes back to the producer before the epilogue, not after it.
    std::uint32_t xf[4][4], zf[4][4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int m = lane / 8;
      const std::uint32_t off =
          plane_offset(16 * warp + lane % 8 + 8 * (m % 2), 8 * (2 * q + m / 2), kQ);
      mma::ldmatrix_x4(xf[q], stage + kXOff + off);
      if (gated) mma::ldmatrix_x4(zf[q], stage + kZOff + off);
    }
    wgmma::wait<0>();
    wgmma::pin(Y);
    if (c + kStages < nchunks) bar_arrive(kEmpty + s, kStageParties);
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int i = e == 0 ? i0 : i1;
      if (i < len) {
        T* dst = out_bh + (start + i) * xstride;
#pragma unroll
        for (int c8 = 0; c8 < 8; ++c8) {
          const int p = 8 * c8 + 2 * tq, m = e + 2 * (c8 % 2);
          const float2 xv = unpack2<T>(xf[c8 / 2][m]);
          float y0 = Y[4 * c8 + 2 * e] + dvals[2 * c8] * xv.x;
          float y1 = Y[4 * c8 + 2 * e + 1] + dvals[2 * c8 + 1] * xv.y;
          if (gated) {
            const float2 zv = unpack2<T>(zf[c8 / 2][m]);
            y0 *= silu(zv.x);
            y1 *= silu(zv.y);
          }
          *reinterpret_cast<std::uint32_t*>(dst + p) = pack2<T>(y0, y1);
        }
      }
    }
  }
#endif
}

bool device_is_sm90() {
  return current_device_attribute(cudaDevAttrComputeCapabilityMajor) == 9 &&
         current_device_attribute(cudaDevAttrComputeCapabilityMinor) == 0;
}

template <class T>
void launch_typed(const ChunkScanDeviceArgs& a, cudaStream_t stream) {
  static const bool configured = [] {
    SSMKIT_CUDA_CHECK(cudaFuncSetAttribute(chunk_scan_wgmma<T>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
    return true;
  }();
  (void)configured;
  const long long units = static_cast<long long>(a.batch) * a.nheads * (a.headdim / kP);
  chunk_scan_wgmma<T><<<static_cast<unsigned>(units), kThreads, kBytes, stream>>>(a);
  SSMKIT_CHECK_LAUNCH("mamba_chunk_scan_combined");
}

}  // namespace

bool chunk_scan_wgmma_supports(const ChunkScanDeviceArgs& a) {
  const long long units = static_cast<long long>(a.batch) * a.nheads * (a.headdim / kP);
  return (a.dtype == DType::bfloat16 || a.dtype == DType::float16) && a.dstate == kN &&
         a.headdim % kP == 0 && !a.seq_idx && !a.cu_seqlens && units <= INT_MAX &&
         a.seqlen <= INT_MAX && aligned16(a.x) && aligned16(a.B) && aligned16(a.C) &&
         aligned16(a.z) && aligned16(a.out) && device_is_sm90();
}

void launch_chunk_scan_wgmma(const ChunkScanDeviceArgs& a, cudaStream_t stream) {
  dispatch_tensor_core_activation(
      a.dtype, [&](auto tag) { launch_typed<typename decltype(tag)::type>(a, stream); });
}

}  // namespace ssmkit::cuda
