#include "chunk_scan_internal.hpp"
#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"

namespace ssmkit::cuda {
namespace {

// One warp per (batch, head, head channel) with the N state entries spread over the lanes.
// It needs no chunking to be exact, and costs L dependent steps per warp.
template <class T>
__global__ void chunk_scan_recurrent(ChunkScanDeviceArgs a) {
  const long long row = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  const int H = a.nheads, P = a.headdim, N = a.dstate;
  const long long L = a.seqlen;
  if (row >= static_cast<long long>(a.batch) * H * P) return;
  const auto* x = static_cast<const T*>(a.x);
  const auto* dt_in = static_cast<const T*>(a.dt);
  const auto* Bm = static_cast<const T*>(a.B);
  const auto* Cm = static_cast<const T*>(a.C);
  const auto* z = static_cast<const T*>(a.z);
  auto* out = static_cast<T*>(a.out);
  const long long b = row / (H * P);
  const int hp = static_cast<int>(row % (H * P));
  const int h = hp / P, q = hp % P;
  const int g = h / (H / a.ngroups);
  float s[kMaxStatePerLane];
#pragma unroll
  for (int k = 0; k < kMaxStatePerLane; ++k) {
    const int n = lane + 32 * k;
    s[k] = (a.initial_states && n < N) ? a.initial_states[row * N + n] : 0.f;
  }
  const float A = a.A[h];
  const float bias = load_or(a.dt_bias, h, 0.f);
  const float skip = load_or(a.D, hp, 0.f);
  long long current_seq = a.seq_idx ? a.seq_idx[b * L] : 0;
  long long next_varlen = 0;  // index into cu_seqlens of the next sequence to end
  for (long long t = 0; t < L; ++t) {
    if (a.seq_idx && a.seq_idx[b * L + t] != current_seq) {
      current_seq = a.seq_idx[b * L + t];
#pragma unroll
      for (int k = 0; k < kMaxStatePerLane; ++k) s[k] = 0.f;
    }
    float dt = to_float(dt_in[(b * L + t) * H + h]) + bias;
    if (a.dt_softplus) dt = softplus(dt);
    dt = fminf(fmaxf(dt, a.dt_min), a.dt_max);
    const float decay = expf(dt * A);
    const long long xi = ((b * L + t) * H + h) * P + q;
    const float xv = to_float(x[xi]);
    const T* Bv = Bm + ((b * L + t) * a.ngroups + g) * N;
    const T* Cv = Cm + ((b * L + t) * a.ngroups + g) * N;
    float part = 0.f;
#pragma unroll
    for (int k = 0; k < kMaxStatePerLane; ++k) {
      const int n = lane + 32 * k;
      if (n < N) {
        s[k] = decay * s[k] + dt * to_float(Bv[n]) * xv;
        part += to_float(Cv[n]) * s[k];
      }
    }
    float y = warp_sum(part) + skip * xv;
    if (z) y *= silu(to_float(z[xi]));
    if (lane == 0) out[xi] = from_float<T>(y);
    if (a.cu_seqlens && next_varlen < a.nseq && t == a.cu_seqlens[next_varlen + 1] - 1) {
#pragma unroll
      for (int k = 0; k < kMaxStatePerLane; ++k) {
        const int n = lane + 32 * k;
        if (n < N) a.varlen_states[(next_varlen * H * P + hp) * N + n] = s[k];
      }
      ++next_varlen;
    }
  }
#pragma unroll
  for (int k = 0; k < kMaxStatePerLane; ++k) {
    const int n = lane + 32 * k;
    if (n < N) a.final_states[row * N + n] = s[k];
  }
}

}  // namespace

void launch_chunk_scan_recurrent(const ChunkScanDeviceArgs& a, cudaStream_t stream) {
  require_warp_state(a.dstate, "mamba_chunk_scan_combined dstate");
  dispatch_activation(a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 128;
    const long long threads = static_cast<long long>(a.batch) * a.nheads * a.headdim * 32;
    chunk_scan_recurrent<T><<<blocks_for(threads, kBlock), kBlock, 0, stream>>>(a);
    SSMKIT_CHECK_LAUNCH("mamba_chunk_scan_combined");
  });
}

}  // namespace ssmkit::cuda
