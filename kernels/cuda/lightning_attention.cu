#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "lightning_attention_device.hpp"

namespace ssmkit::cuda {
namespace {

using Args = LightningAttentionDeviceArgs;

// One warp per (batch, head, value column): the K entries of that state column live on the
// lanes; each step decays them, adds k_t * v_t[c] and reduces q_t . S for the output.
template <class T>
__global__ void lightning_fwd(const Args a) {
  const long long warp = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  const int K = static_cast<int>(a.key_dim), V = static_cast<int>(a.value_dim);
  if (warp >= a.batch * a.nheads * V) return;
  const long long bh = warp / V;
  const int c = static_cast<int>(warp % V);
  const int h = static_cast<int>(bh % a.nheads);
  const T* q = static_cast<const T*>(a.q);
  const T* k = static_cast<const T*>(a.k);
  const T* v = static_cast<const T*>(a.v);
  const float decay = expf(-a.slope[h]);
  float s[kMaxStatePerLane];
#pragma unroll
  for (int j = 0; j < kMaxStatePerLane; ++j) {
    const int i = lane + 32 * j;
    s[j] = (a.initial_state && i < K) ? a.initial_state[(bh * K + i) * V + c] : 0.f;
  }
  for (long long t = 0; t < a.seqlen; ++t) {
    const long long row = bh * a.seqlen + t;
    const float vt = to_float(v[row * V + c]);
    float part = 0.f;
#pragma unroll
    for (int j = 0; j < kMaxStatePerLane; ++j) {
      const int i = lane + 32 * j;
      if (i < K) {
        s[j] = decay * s[j] + to_float(k[row * K + i]) * vt;
        part += to_float(q[row * K + i]) * s[j];
      }
    }
    const float y = warp_sum(part);
    if (lane == 0) static_cast<T*>(a.out)[row * V + c] = from_float<T>(y);
  }
#pragma unroll
  for (int j = 0; j < kMaxStatePerLane; ++j) {
    const int i = lane + 32 * j;
    if (i < K) a.final_state[(bh * K + i) * V + c] = s[j];
  }
}

}  // namespace

void launch_lightning_attention(const Args& a, cudaStream_t stream) {
  if (a.batch == 0 || a.nheads == 0 || a.value_dim == 0) return;
  require_warp_state(a.key_dim, "lightning_attention key_dim");
  dispatch_activation(a.act_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 128;
    lightning_fwd<T><<<blocks_for(a.batch * a.nheads * a.value_dim * 32, kBlock), kBlock, 0,
                       stream>>>(a);
    SSMKIT_CHECK_LAUNCH("lightning_attention");
  });
}

}  // namespace ssmkit::cuda
