#include "cuda_backend.hpp"
#include "device_buffer.hpp"
#include "dispatch.cuh"
#include "element.cuh"

namespace ssmkit {
namespace {

using cuda::DeviceTensor;
using cuda::kMaxStatePerLane;

// One warp per (batch, head, value column): the K entries of that state column live on the
// lanes; each step decays them, adds k_t * v_t[c] and reduces q_t . S for the output.
template <class T>
__global__ void lightning_fwd(const T* __restrict__ q, const T* __restrict__ k,
                              const T* __restrict__ v, const float* __restrict__ slope,
                              const float* __restrict__ init, T* __restrict__ out,
                              float* __restrict__ final_state, int batch, int H, long long L,
                              int K, int V) {
  const long long warp = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= static_cast<long long>(batch) * H * V) return;
  const long long bh = warp / V;
  const int c = static_cast<int>(warp % V);
  const int h = static_cast<int>(bh % H);
  const float decay = expf(-slope[h]);
  float s[kMaxStatePerLane];
#pragma unroll
  for (int j = 0; j < kMaxStatePerLane; ++j) {
    const int a = lane + 32 * j;
    s[j] = (init && a < K) ? init[(bh * K + a) * V + c] : 0.f;
  }
  for (long long t = 0; t < L; ++t) {
    const long long row = bh * L + t;
    const float vt = cuda::to_float(v[row * V + c]);
    float part = 0.f;
#pragma unroll
    for (int j = 0; j < kMaxStatePerLane; ++j) {
      const int a = lane + 32 * j;
      if (a < K) {
        s[j] = decay * s[j] + cuda::to_float(k[row * K + a]) * vt;
        part += cuda::to_float(q[row * K + a]) * s[j];
      }
    }
    const float y = cuda::warp_sum(part);
    if (lane == 0) out[row * V + c] = cuda::from_float<T>(y);
  }
#pragma unroll
  for (int j = 0; j < kMaxStatePerLane; ++j) {
    const int a = lane + 32 * j;
    if (a < K) final_state[(bh * K + a) * V + c] = s[j];
  }
}

}  // namespace

LightningAttentionResult CudaBackend::lightning_attention(const LightningAttentionParams& p) {
  cuda::require_warp_state(p.key_dim, "lightning_attention key_dim");
  const DType act = cuda::activation_dtype(p.input_dtype);
  auto q = DeviceTensor::upload(p.q, act);
  auto k = DeviceTensor::upload(p.k, act);
  auto v = DeviceTensor::upload(p.v, act);
  auto slope = DeviceTensor::upload(p.slope, DType::float32);
  auto init = DeviceTensor::upload(p.initial_state, DType::float32);
  DeviceTensor out(act, {p.batch, p.nheads, p.seqlen, p.value_dim});
  DeviceTensor final_state(DType::float32, {p.batch, p.nheads, p.key_dim, p.value_dim});
  cuda::dispatch_activation(act, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 128;
    lightning_fwd<T><<<cuda::blocks_for(p.batch * p.nheads * p.value_dim * 32, kBlock), kBlock>>>(
        q.data<T>(), k.data<T>(), v.data<T>(), slope.data<float>(), init.data<float>(),
        out.data<T>(), final_state.data<float>(), static_cast<int>(p.batch),
        static_cast<int>(p.nheads), p.seqlen, static_cast<int>(p.key_dim),
        static_cast<int>(p.value_dim));
    SSMKIT_CHECK_LAUNCH("lightning_attention");
  });
  return {out.download(), final_state.download()};
}

}  // namespace ssmkit
