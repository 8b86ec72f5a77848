#include "cuda_backend.hpp"
#include "device_buffer.hpp"
#include "dispatch.cuh"
#include "element.cuh"

namespace ssmkit {
namespace {

using cuda::DeviceTensor;

constexpr int kBlock = 256;

// One block per (row, group): a block-wide sum of squares, then the scaled write.
template <class T>
__global__ void gated_rmsnorm_fwd(const T* __restrict__ x, const T* __restrict__ z,
                                  const float* __restrict__ weight,
                                  const float* __restrict__ bias, T* __restrict__ out,
                                  long long D, int group_size, float eps, bool norm_before_gate) {
  const long long groups_per_row = D / group_size;
  const long long row = blockIdx.x / groups_per_row;
  const long long first = row * D + (blockIdx.x % groups_per_row) * group_size;
  const bool gate_first = z && !norm_before_gate;
  float sum_sq = 0.f;
  for (int i = threadIdx.x; i < group_size; i += blockDim.x) {
    float v = cuda::to_float(x[first + i]);
    if (gate_first) v *= cuda::silu(cuda::to_float(z[first + i]));
    sum_sq += v * v;
  }
  __shared__ float warp_sums[kBlock / 32];
  sum_sq = cuda::warp_sum(sum_sq);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum_sq;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kBlock / 32; ++w) total += warp_sums[w];
  const float rstd = 1.f / sqrtf(total / group_size + eps);
  for (int i = threadIdx.x; i < group_size; i += blockDim.x) {
    const long long e = first + i;
    const int d = static_cast<int>(e % D);
    float v = cuda::to_float(x[e]);
    if (gate_first) v *= cuda::silu(cuda::to_float(z[e]));
    float y = v * rstd * weight[d] + cuda::load_or(bias, d, 0.f);
    if (z && norm_before_gate) y *= cuda::silu(cuda::to_float(z[e]));
    out[e] = cuda::from_float<T>(y);
  }
}

}  // namespace

GatedRmsNormResult CudaBackend::gated_rmsnorm(const GatedRmsNormParams& p) {
  const DType act = cuda::activation_dtype(p.input_dtype);
  auto x = DeviceTensor::upload(p.x, act);
  auto z = DeviceTensor::upload(p.z, act);
  auto weight = DeviceTensor::upload(p.weight, DType::float32);
  auto bias = DeviceTensor::upload(p.bias, DType::float32);
  DeviceTensor out(act, {p.rows, p.dim});
  const long long blocks = p.rows * (p.dim / p.group_size);
  cuda::dispatch_activation(act, [&](auto tag) {
    using T = typename decltype(tag)::type;
    gated_rmsnorm_fwd<T><<<static_cast<unsigned>(blocks), kBlock>>>(
        x.data<T>(), z.data<T>(), weight.data<float>(), bias.data<float>(), out.data<T>(),
        p.dim, static_cast<int>(p.group_size), static_cast<float>(p.eps), p.norm_before_gate);
    SSMKIT_CHECK_LAUNCH("gated_rmsnorm");
  });
  return {out.download()};
}

}  // namespace ssmkit
