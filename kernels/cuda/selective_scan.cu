#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "selective_scan_device.hpp"

namespace ssmkit::cuda {
namespace {

using Args = SelectiveScanDeviceArgs;

__device__ __forceinline__ float fast_rcp(float v) {
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
}
// silu through MUFU: rcp(inf) = 0 keeps large negative inputs at 0.
__device__ __forceinline__ float fast_silu(float v) { return v * fast_rcp(1.f + __expf(-v)); }

// The throughput kernel: one thread per channel runs the recurrence sequentially over time
// with its kN states in registers; a block of kChannels channels of one batch row (and one
// group) stages time tiles of u, delta, z (coalesced 16-byte loads, transposed through
// shared memory) and of B and C (shared by the block's channels), then writes the output
// tile back the same way. Per state element and step: one MUFU.EX2 and four FMA-pipe ops.
constexpr int kChannels = 64;
constexpr int kTile = 32;  // time steps per tile
constexpr int kPad = kTile + 1;  // odd row stride: thread c reading [c][t] hits bank (c+t)%32

template <class T, int kN, bool kVecIO>
__global__ __launch_bounds__(kChannels) void scan_tiled(const Args a) {
  constexpr int kVec = kVecIO ? 16 / static_cast<int>(sizeof(T)) : 1;
  constexpr int kRowVecs = kTile / kVec;  // vectors per channel row in a tile
  __shared__ float u_s[kChannels][kPad], dt_s[kChannels][kPad], z_s[kChannels][kPad];
  __shared__ __align__(16) float B_s[kTile][kN], C_s[kTile][kN];

  const long long L = a.seqlen;
  const int c = threadIdx.x;
  const long long b = blockIdx.y;
  const long long d0 = static_cast<long long>(blockIdx.x) * kChannels;
  const long long d = d0 + c;
  const long long g = d0 / (a.dim / a.ngroups);
  const long long row0 = (b * a.dim + d0) * L;  // first element of the block's first channel
  const T* u = static_cast<const T*>(a.u) + row0;
  const T* delta = static_cast<const T*>(a.delta) + row0;
  const T* z = a.z ? static_cast<const T*>(a.z) + row0 : nullptr;
  T* out = static_cast<T*>(a.out) + row0;
  const T* Bg = static_cast<const T*>(a.B) + (b * a.ngroups + g) * kN * L;
  const T* Cg = static_cast<const T*>(a.C) + (b * a.ngroups + g) * kN * L;

  float A2[kN], h[kN];
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    A2[n] = a.A[d * kN + n] * kLog2e;
    h[n] = 0.f;
  }
  const float bias = a.delta_bias ? a.delta_bias[d] : 0.f;
  const float skip = a.D ? a.D[d] : 0.f;

  for (long long t0 = 0; t0 < L; t0 += kTile) {
    const int steps = static_cast<int>(L - t0 < kTile ? L - t0 : kTile);
    __syncthreads();  // the previous tile's output has been stored
    // Stage u, delta, z: kChannels rows of kTile steps.
    for (int i = c; i < kChannels * kRowVecs; i += kChannels) {
      const int r = i / kRowVecs, tv = (i % kRowVecs) * kVec;
      const long long off = r * L + t0 + tv;
      if (kVecIO && tv < steps) {
        const auto uv = load_array<kVec>(u + off);
        const auto dv = load_array<kVec>(delta + off);
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          u_s[r][tv + e] = to_float(uv.v[e]);
          dt_s[r][tv + e] = to_float(dv.v[e]);
        }
        if (z) {
          const auto zv = load_array<kVec>(z + off);
#pragma unroll
          for (int e = 0; e < kVec; ++e) z_s[r][tv + e] = to_float(zv.v[e]);
        }
      } else if (!kVecIO && tv < steps) {
        u_s[r][tv] = to_float(u[off]);
        dt_s[r][tv] = to_float(delta[off]);
        if (z) z_s[r][tv] = to_float(z[off]);
      }
    }
    // Stage B and C transposed to [t][n], so a thread reads one step's kN values as vectors.
    for (int i = c; i < kN * kRowVecs; i += kChannels) {
      const int n = i % kN, tv = (i / kN) * kVec;
      if (tv >= steps) continue;
      const long long off = n * L + t0 + tv;
      if constexpr (kVecIO) {
        const auto bv = load_array<kVec>(Bg + off);
        const auto cv = load_array<kVec>(Cg + off);
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          B_s[tv + e][n] = to_float(bv.v[e]);
          C_s[tv + e][n] = to_float(cv.v[e]);
        }
      } else {
        B_s[tv][n] = to_float(Bg[off]);
        C_s[tv][n] = to_float(Cg[off]);
      }
    }
    __syncthreads();

    for (int t = 0; t < steps; ++t) {
      float dt = dt_s[c][t] + bias;
      if (a.delta_softplus) dt = dt > 20.f ? dt : log1pf(__expf(dt));
      const float uv = u_s[c][t];
      const float dtu = dt * uv;
      float y = 0.f;
#pragma unroll
      for (int n4 = 0; n4 < kN; n4 += 4) {
        const float4 bq = *reinterpret_cast<const float4*>(&B_s[t][n4]);
        const float4 cq = *reinterpret_cast<const float4*>(&C_s[t][n4]);
        const float bb[4] = {bq.x, bq.y, bq.z, bq.w}, cc[4] = {cq.x, cq.y, cq.z, cq.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int n = n4 + e;
          h[n] = fmaf(fast_exp2(dt * A2[n]), h[n], dtu * bb[e]);
          y = fmaf(cc[e], h[n], y);
        }
      }
      y += skip * uv;
      if (z) y *= fast_silu(z_s[c][t]);
      u_s[c][t] = y;  // the output tile reuses u's slot, read above by this thread only
    }
    __syncthreads();
    for (int i = c; i < kChannels * kRowVecs; i += kChannels) {
      const int r = i / kRowVecs, tv = (i % kRowVecs) * kVec;
      if (tv >= steps) continue;
      Array<T, kVec> ov;
#pragma unroll
      for (int e = 0; e < kVec; ++e) ov.v[e] = from_float<T>(u_s[r][tv + e]);
      store_array<kVec>(out + r * L + t0 + tv, ov);
    }
  }
  float* last = a.last_state + (b * a.dim + d) * kN;
#pragma unroll
  for (int n4 = 0; n4 < kN; n4 += 4) {
    *reinterpret_cast<float4*>(last + n4) = make_float4(h[n4], h[n4 + 1], h[n4 + 2], h[n4 + 3]);
  }
}

// Any shape: one warp per (batch, channel), lane l holding states n = l, l+32, ...
template <class T>
__global__ void scan_generic(const Args a) {
  const long long warp = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= a.batch * a.dim) return;
  const long long b = warp / a.dim, L = a.seqlen;
  const long long d = warp % a.dim;
  const int N = static_cast<int>(a.dstate);
  const long long g = d / (a.dim / a.ngroups);
  const T* Bg = static_cast<const T*>(a.B) + (b * a.ngroups + g) * N * L;
  const T* Cg = static_cast<const T*>(a.C) + (b * a.ngroups + g) * N * L;
  const T* u = static_cast<const T*>(a.u);
  const T* delta = static_cast<const T*>(a.delta);
  const T* z = static_cast<const T*>(a.z);
  float h[kMaxStatePerLane], A[kMaxStatePerLane];
#pragma unroll
  for (int k = 0; k < kMaxStatePerLane; ++k) {
    const int n = lane + 32 * k;
    h[k] = 0.f;
    A[k] = n < N ? a.A[d * N + n] : 0.f;
  }
  const float bias = load_or(a.delta_bias, d, 0.f);
  const float skip = load_or(a.D, d, 0.f);
  for (long long t = 0; t < L; ++t) {
    const long long i = warp * L + t;
    float dt = to_float(delta[i]) + bias;
    if (a.delta_softplus) dt = softplus(dt);
    const float ui = to_float(u[i]);
    float part = 0.f;
#pragma unroll
    for (int k = 0; k < kMaxStatePerLane; ++k) {
      const int n = lane + 32 * k;
      if (n < N) {
        h[k] = expf(dt * A[k]) * h[k] + dt * to_float(Bg[n * L + t]) * ui;
        part += to_float(Cg[n * L + t]) * h[k];
      }
    }
    float y = warp_sum(part) + skip * ui;
    if (z) y *= silu(to_float(z[i]));
    if (lane == 0) static_cast<T*>(a.out)[i] = from_float<T>(y);
  }
#pragma unroll
  for (int k = 0; k < kMaxStatePerLane; ++k) {
    const int n = lane + 32 * k;
    if (n < N) a.last_state[warp * N + n] = h[k];
  }
}

}  // namespace

void launch_selective_scan(const Args& a, cudaStream_t stream) {
  if (a.batch == 0 || a.dim == 0) return;
  require_warp_state(a.dstate, "selective_scan dstate");
  dispatch_activation(a.act_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool tiled = a.dstate == 16 && a.seqlen > 0 && (a.dim / a.ngroups) % kChannels == 0 &&
                       a.batch <= 65535;
    if (tiled) {
      const dim3 grid(static_cast<unsigned>(a.dim / kChannels), static_cast<unsigned>(a.batch));
      constexpr int kVec = 16 / static_cast<int>(sizeof(T));
      if (a.seqlen % kVec == 0) {
        scan_tiled<T, 16, true><<<grid, kChannels, 0, stream>>>(a);
      } else {
        scan_tiled<T, 16, false><<<grid, kChannels, 0, stream>>>(a);
      }
    } else {
      constexpr int kBlock = 128;
      scan_generic<T><<<blocks_for(a.batch * a.dim * 32, kBlock), kBlock, 0, stream>>>(a);
    }
  });
  SSMKIT_CHECK_LAUNCH("selective_scan");
}

}  // namespace ssmkit::cuda
