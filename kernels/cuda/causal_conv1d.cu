#include "cuda_backend.hpp"
#include "device_buffer.hpp"
#include "dispatch.cuh"
#include "element.cuh"

namespace ssmkit {
namespace {

using cuda::DeviceTensor;

// The extended sequence [initial_states (W-1 columns) | x (L columns)] of one channel.
template <class T>
__device__ __forceinline__ float ext_at(const T* x_row, const T* init_row, int W, long long e) {
  if (e >= W - 1) return cuda::to_float(x_row[e - (W - 1)]);
  return init_row ? cuda::to_float(init_row[e]) : 0.f;
}

template <class T>
__global__ void conv1d_fwd(const T* __restrict__ x, const float* __restrict__ weight,
                           const float* __restrict__ bias, const T* __restrict__ init,
                           T* __restrict__ out, long long rows, int D, long long L, int W,
                           bool silu) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= rows * L) return;
  const long long row = i / L, t = i % L;
  const int d = static_cast<int>(row % D);
  const T* x_row = x + row * L;
  const T* init_row = init ? init + row * (W - 1) : nullptr;
  float acc = cuda::load_or(bias, d, 0.f);
  for (int w = 0; w < W; ++w) acc += weight[d * W + w] * ext_at(x_row, init_row, W, t + w);
  out[i] = cuda::from_float<T>(silu ? cuda::silu(acc) : acc);
}

// conv_state keeps the last W columns of the extended sequence, final_states the last W-1.
template <class T>
__global__ void conv1d_states(const T* __restrict__ x, const T* __restrict__ init,
                              T* __restrict__ conv_state, T* __restrict__ final_states,
                              long long rows, long long L, int W) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= rows * W) return;
  const long long row = i / W;
  const int k = static_cast<int>(i % W);
  const T* x_row = x + row * L;
  const T* init_row = init ? init + row * (W - 1) : nullptr;
  conv_state[i] = cuda::from_float<T>(ext_at(x_row, init_row, W, L - 1 + k));
  if (k < W - 1) final_states[row * (W - 1) + k] = cuda::from_float<T>(ext_at(x_row, init_row, W, L + k));
}

template <class T>
__global__ void conv1d_update(const T* __restrict__ x, const T* __restrict__ state,
                              const float* __restrict__ weight, const float* __restrict__ bias,
                              T* __restrict__ out, T* __restrict__ new_state, long long rows,
                              int D, int L, int W, int S, bool silu) {
  const long long row = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (row >= rows) return;
  const int d = static_cast<int>(row % D);
  // The window is [cached S columns | L new columns]; token t sits at column S + t.
  auto window = [&](int e) {
    return e < S ? cuda::to_float(state[row * S + e]) : cuda::to_float(x[row * L + (e - S)]);
  };
  for (int t = 0; t < L; ++t) {
    float acc = cuda::load_or(bias, d, 0.f);
    for (int w = 0; w < W; ++w) acc += weight[d * W + w] * window(S + t - (W - 1) + w);
    out[row * L + t] = cuda::from_float<T>(silu ? cuda::silu(acc) : acc);
  }
  for (int k = 0; k < S; ++k) new_state[row * S + k] = cuda::from_float<T>(window(L + k));
}

}  // namespace

CausalConv1dResult CudaBackend::causal_conv1d(const CausalConv1dParams& p) {
  const DType act = cuda::activation_dtype(p.input_dtype);
  const long long rows = p.batch * p.dim;
  auto x = DeviceTensor::upload(p.x, act);
  auto init = DeviceTensor::upload(p.initial_states, act);
  auto weight = DeviceTensor::upload(p.weight, DType::float32);
  auto bias = DeviceTensor::upload(p.bias, DType::float32);
  DeviceTensor out(act, {p.batch, p.dim, p.seqlen});
  DeviceTensor conv_state(act, {p.batch, p.dim, p.width});
  DeviceTensor final_states(act, {p.batch, p.dim, p.width - 1});
  cuda::dispatch_activation(act, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 256;
    conv1d_fwd<T><<<cuda::blocks_for(rows * p.seqlen, kBlock), kBlock>>>(
        x.data<T>(), weight.data<float>(), bias.data<float>(), init.data<T>(), out.data<T>(),
        rows, static_cast<int>(p.dim), p.seqlen, static_cast<int>(p.width), p.silu);
    SSMKIT_CHECK_LAUNCH("causal_conv1d");
    conv1d_states<T><<<cuda::blocks_for(rows * p.width, kBlock), kBlock>>>(
        x.data<T>(), init.data<T>(), conv_state.data<T>(), final_states.data<T>(), rows,
        p.seqlen, static_cast<int>(p.width));
    SSMKIT_CHECK_LAUNCH("causal_conv1d states");
  });
  return {out.download(), final_states.download(), conv_state.download()};
}

CausalConv1dUpdateResult CudaBackend::causal_conv1d_update(const CausalConv1dUpdateParams& p) {
  const DType act = cuda::activation_dtype(p.input_dtype);
  const long long rows = p.batch * p.dim;
  auto x = DeviceTensor::upload(p.x, act);
  auto state = DeviceTensor::upload(p.conv_state, act);
  auto weight = DeviceTensor::upload(p.weight, DType::float32);
  auto bias = DeviceTensor::upload(p.bias, DType::float32);
  DeviceTensor out(act, {p.batch, p.dim, p.seqlen});
  DeviceTensor new_state(act, {p.batch, p.dim, p.state_len});
  cuda::dispatch_activation(act, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 128;
    conv1d_update<T><<<cuda::blocks_for(rows, kBlock), kBlock>>>(
        x.data<T>(), state.data<T>(), weight.data<float>(), bias.data<float>(), out.data<T>(),
        new_state.data<T>(), rows, static_cast<int>(p.dim), static_cast<int>(p.seqlen),
        static_cast<int>(p.width), static_cast<int>(p.state_len), p.silu);
    SSMKIT_CHECK_LAUNCH("causal_conv1d_update");
  });
  return {out.download(), new_state.download()};
}

}  // namespace ssmkit
