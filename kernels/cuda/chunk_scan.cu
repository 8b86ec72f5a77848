#include "cuda_backend.hpp"
#include "device_buffer.hpp"
#include "dispatch.cuh"
#include "element.cuh"

namespace ssmkit {
namespace {

using cuda::DeviceTensor;
using cuda::kMaxStatePerLane;

// Correctness-first Mamba2 prefill: the token recurrence, one warp per (batch, head, head
// channel) with the N state entries spread over the lanes. It needs no chunking to be
// exact; the chunked tensor-core formulation is the performance work that replaces it.
template <class T>
__global__ void chunk_scan_recurrent(const T* __restrict__ x, const T* __restrict__ dt_in,
                                     const float* __restrict__ A, const T* __restrict__ Bm,
                                     const T* __restrict__ Cm, const float* __restrict__ Dv,
                                     const T* __restrict__ z, const float* __restrict__ dt_bias,
                                     const float* __restrict__ init,
                                     const long long* __restrict__ seq_idx,
                                     const long long* __restrict__ cu_seqlens,
                                     T* __restrict__ out, float* __restrict__ final_states,
                                     float* __restrict__ varlen_states, int batch, long long L,
                                     int H, int P, int G, int N, bool softplus, float dt_min,
                                     float dt_max) {
  const long long row = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= static_cast<long long>(batch) * H * P) return;
  const long long b = row / (H * P);
  const int hp = static_cast<int>(row % (H * P));
  const int h = hp / P, q = hp % P;
  const int g = h / (H / G);
  float s[kMaxStatePerLane];
#pragma unroll
  for (int k = 0; k < kMaxStatePerLane; ++k) {
    const int n = lane + 32 * k;
    s[k] = (init && n < N) ? init[row * N + n] : 0.f;
  }
  const float a = A[h];
  const float bias = cuda::load_or(dt_bias, h, 0.f);
  const float skip = cuda::load_or(Dv, hp, 0.f);
  long long current_seq = seq_idx ? seq_idx[b * L] : 0;
  long long next_varlen = 0;  // index into cu_seqlens of the next sequence to end
  for (long long t = 0; t < L; ++t) {
    if (seq_idx && seq_idx[b * L + t] != current_seq) {
      current_seq = seq_idx[b * L + t];
#pragma unroll
      for (int k = 0; k < kMaxStatePerLane; ++k) s[k] = 0.f;
    }
    float dt = cuda::to_float(dt_in[(b * L + t) * H + h]) + bias;
    if (softplus) dt = cuda::softplus(dt);
    dt = fminf(fmaxf(dt, dt_min), dt_max);
    const float decay = expf(dt * a);
    const long long xi = ((b * L + t) * H + h) * P + q;
    const float xv = cuda::to_float(x[xi]);
    const T* Bv = Bm + ((b * L + t) * G + g) * N;
    const T* Cv = Cm + ((b * L + t) * G + g) * N;
    float part = 0.f;
#pragma unroll
    for (int k = 0; k < kMaxStatePerLane; ++k) {
      const int n = lane + 32 * k;
      if (n < N) {
        s[k] = decay * s[k] + dt * cuda::to_float(Bv[n]) * xv;
        part += cuda::to_float(Cv[n]) * s[k];
      }
    }
    float y = cuda::warp_sum(part) + skip * xv;
    if (z) y *= cuda::silu(cuda::to_float(z[xi]));
    if (lane == 0) out[xi] = cuda::from_float<T>(y);
    if (cu_seqlens && t == cu_seqlens[next_varlen + 1] - 1) {
#pragma unroll
      for (int k = 0; k < kMaxStatePerLane; ++k) {
        const int n = lane + 32 * k;
        if (n < N) varlen_states[(next_varlen * H * P + hp) * N + n] = s[k];
      }
      ++next_varlen;
    }
  }
#pragma unroll
  for (int k = 0; k < kMaxStatePerLane; ++k) {
    const int n = lane + 32 * k;
    if (n < N) final_states[row * N + n] = s[k];
  }
}

}  // namespace

ChunkScanResult CudaBackend::mamba_chunk_scan_combined(const ChunkScanParams& p) {
  cuda::require_warp_state(p.dstate, "mamba_chunk_scan_combined dstate");
  const DType act = cuda::activation_dtype(p.input_dtype);
  auto x = DeviceTensor::upload(p.x, act);
  auto dt = DeviceTensor::upload(p.dt, act);
  auto A = DeviceTensor::upload(p.A, DType::float32);
  auto Bm = DeviceTensor::upload(p.B, act);
  auto Cm = DeviceTensor::upload(p.C, act);
  auto Dv = DeviceTensor::upload(p.D, DType::float32);
  auto z = DeviceTensor::upload(p.z, act);
  auto bias = DeviceTensor::upload(p.dt_bias, DType::float32);
  auto init = DeviceTensor::upload(p.initial_states, DType::float32);
  DeviceTensor seq_idx, cu_seqlens, varlen_states;
  if (!p.seq_idx.empty()) {
    seq_idx = DeviceTensor::upload(
        Tensor::from_vector<std::int64_t>({p.batch, p.seqlen}, p.seq_idx), DType::int64);
  }
  const auto nseq = static_cast<std::int64_t>(p.cu_seqlens.size()) - 1;
  if (nseq > 0) {
    cu_seqlens = DeviceTensor::upload(
        Tensor::from_vector<std::int64_t>({nseq + 1}, p.cu_seqlens), DType::int64);
    varlen_states = DeviceTensor(DType::float32, {nseq, p.nheads, p.headdim, p.dstate});
  }
  DeviceTensor out(act, {p.batch, p.seqlen, p.nheads, p.headdim});
  DeviceTensor final_states(DType::float32, {p.batch, p.nheads, p.headdim, p.dstate});
  cuda::dispatch_activation(act, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 128;
    chunk_scan_recurrent<T>
        <<<cuda::blocks_for(p.batch * p.nheads * p.headdim * 32, kBlock), kBlock>>>(
            x.data<T>(), dt.data<T>(), A.data<float>(), Bm.data<T>(), Cm.data<T>(),
            Dv.data<float>(), z.data<T>(), bias.data<float>(), init.data<float>(),
            seq_idx.data<long long>(), cu_seqlens.data<long long>(), out.data<T>(),
            final_states.data<float>(), varlen_states.data<float>(), static_cast<int>(p.batch),
            p.seqlen, static_cast<int>(p.nheads), static_cast<int>(p.headdim),
            static_cast<int>(p.ngroups), static_cast<int>(p.dstate), p.dt_softplus,
            static_cast<float>(p.dt_min), static_cast<float>(p.dt_max));
    SSMKIT_CHECK_LAUNCH("mamba_chunk_scan_combined");
  });
  ChunkScanResult r{out.download(), final_states.download(), {}};
  if (nseq > 0) r.varlen_states = varlen_states.download();
  return r;
}

}  // namespace ssmkit
