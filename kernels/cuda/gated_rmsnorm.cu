#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "gated_rmsnorm_device.hpp"

namespace ssmkit::cuda {
namespace {

using Args = GatedRmsNormDeviceArgs;
constexpr int kBlock = 256;

// One block per (row, group): a block-wide sum of squares, then the scaled write. The
// second pass re-reads the group (a few KB) from L1/L2, not from memory.
template <class T>
__global__ __launch_bounds__(kBlock) void gated_rmsnorm_fwd(const Args a) {
  const long long groups_per_row = a.dim / a.group_size;
  const long long row = blockIdx.x / groups_per_row;
  const long long first = row * a.dim + (blockIdx.x % groups_per_row) * a.group_size;
  const T* x = static_cast<const T*>(a.x);
  const T* z = static_cast<const T*>(a.z);
  const bool gate_first = z && !a.norm_before_gate;
  const int G = static_cast<int>(a.group_size);
  float sum_sq = 0.f;
  for (int i = threadIdx.x; i < G; i += blockDim.x) {
    float v = to_float(x[first + i]);
    if (gate_first) v *= silu(to_float(z[first + i]));
    sum_sq += v * v;
  }
  __shared__ float warp_sums[kBlock / 32];
  sum_sq = warp_sum(sum_sq);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum_sq;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kBlock / 32; ++w) total += warp_sums[w];
  const float rstd = rsqrtf(total / G + a.eps);
  for (int i = threadIdx.x; i < G; i += blockDim.x) {
    const long long e = first + i;
    const long long d = e % a.dim;
    float v = to_float(x[e]);
    if (gate_first) v *= silu(to_float(z[e]));
    float y = v * rstd * a.weight[d] + load_or(a.bias, d, 0.f);
    if (z && a.norm_before_gate) y *= silu(to_float(z[e]));
    static_cast<T*>(a.out)[e] = from_float<T>(y);
  }
}

}  // namespace

void launch_gated_rmsnorm(const Args& a, cudaStream_t stream) {
  if (a.rows == 0 || a.dim == 0) return;
  const long long blocks = a.rows * (a.dim / a.group_size);
  dispatch_activation(a.act_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    gated_rmsnorm_fwd<T><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(a);
    SSMKIT_CHECK_LAUNCH("gated_rmsnorm");
  });
}

}  // namespace ssmkit::cuda
