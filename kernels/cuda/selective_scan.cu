#include "cuda_backend.hpp"
#include "device_buffer.hpp"
#include "dispatch.cuh"
#include "element.cuh"

namespace ssmkit {
namespace {

using cuda::DeviceTensor;
using cuda::kMaxStatePerLane;

// One warp per (batch, channel): lane l holds state entries n = l, l+32, ... in registers,
// and the output of each step is a warp reduction over n.
template <class T>
__global__ void selective_scan_fwd(const T* __restrict__ u, const T* __restrict__ delta,
                                   const float* __restrict__ A, const T* __restrict__ Bm,
                                   const T* __restrict__ Cm, const float* __restrict__ Dv,
                                   const T* __restrict__ z, const float* __restrict__ delta_bias,
                                   T* __restrict__ out, float* __restrict__ last_state,
                                   int batch, int D, long long L, int N, int G, bool softplus) {
  const long long warp = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= static_cast<long long>(batch) * D) return;
  const long long b = warp / D;
  const int d = static_cast<int>(warp % D);
  const int g = d / (D / G);
  const T* Bg = Bm + (b * G + g) * N * L;
  const T* Cg = Cm + (b * G + g) * N * L;
  float h[kMaxStatePerLane], a[kMaxStatePerLane];
#pragma unroll
  for (int k = 0; k < kMaxStatePerLane; ++k) {
    const int n = lane + 32 * k;
    h[k] = 0.f;
    a[k] = n < N ? A[d * N + n] : 0.f;
  }
  const float bias = cuda::load_or(delta_bias, d, 0.f);
  const float skip = cuda::load_or(Dv, d, 0.f);
  for (long long t = 0; t < L; ++t) {
    const long long i = warp * L + t;
    float dt = cuda::to_float(delta[i]) + bias;
    if (softplus) dt = cuda::softplus(dt);
    const float ui = cuda::to_float(u[i]);
    float part = 0.f;
#pragma unroll
    for (int k = 0; k < kMaxStatePerLane; ++k) {
      const int n = lane + 32 * k;
      if (n < N) {
        h[k] = expf(dt * a[k]) * h[k] + dt * cuda::to_float(Bg[n * L + t]) * ui;
        part += cuda::to_float(Cg[n * L + t]) * h[k];
      }
    }
    float y = cuda::warp_sum(part) + skip * ui;
    if (z) y *= cuda::silu(cuda::to_float(z[i]));
    if (lane == 0) out[i] = cuda::from_float<T>(y);
  }
#pragma unroll
  for (int k = 0; k < kMaxStatePerLane; ++k) {
    const int n = lane + 32 * k;
    if (n < N) last_state[warp * N + n] = h[k];
  }
}

// One warp per (batch row, head, head channel); lanes stride over the state, so a row's
// N contiguous floats are read and written coalesced.
template <class T>
__global__ void state_update(float* __restrict__ state, const T* __restrict__ x,
                             const T* __restrict__ dt_in, const float* __restrict__ A,
                             const T* __restrict__ Bm, const T* __restrict__ Cm,
                             const float* __restrict__ Dv, const T* __restrict__ z,
                             const float* __restrict__ dt_bias,
                             const long long* __restrict__ slots, long long pad_slot,
                             T* __restrict__ out, int batch, int H, int P, int N, int G,
                             bool softplus) {
  const long long row = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= static_cast<long long>(batch) * H * P) return;
  const long long b = row / (H * P);
  const int hp = static_cast<int>(row % (H * P));
  const int h = hp / P;
  const int g = h / (H / G);
  const long long slot = slots ? slots[b] : b;
  if (slot == pad_slot) {
    if (lane == 0) out[row] = cuda::from_float<T>(0.f);
    return;
  }
  float dt = cuda::to_float(dt_in[row]) + cuda::load_or(dt_bias, hp, 0.f);
  if (softplus) dt = cuda::softplus(dt);
  const float xv = cuda::to_float(x[row]);
  float* s = state + (slot * H * P + hp) * static_cast<long long>(N);
  const T* Bv = Bm + (b * G + g) * N;
  const T* Cv = Cm + (b * G + g) * N;
  float part = 0.f;
  for (int n = lane; n < N; n += 32) {
    const float v = s[n] * expf(dt * A[static_cast<long long>(hp) * N + n]) +
                    dt * cuda::to_float(Bv[n]) * xv;
    s[n] = v;
    part += v * cuda::to_float(Cv[n]);
  }
  float y = cuda::warp_sum(part) + cuda::load_or(Dv, hp, 0.f) * xv;
  if (z) y *= cuda::silu(cuda::to_float(z[row]));
  if (lane == 0) out[row] = cuda::from_float<T>(y);
}

}  // namespace

SelectiveScanResult CudaBackend::selective_scan(const SelectiveScanParams& p) {
  cuda::require_warp_state(p.dstate, "selective_scan dstate");
  const DType act = cuda::activation_dtype(p.input_dtype);
  auto u = DeviceTensor::upload(p.u, act);
  auto delta = DeviceTensor::upload(p.delta, act);
  auto A = DeviceTensor::upload(p.A, DType::float32);
  auto Bm = DeviceTensor::upload(p.B, act);
  auto Cm = DeviceTensor::upload(p.C, act);
  auto Dv = DeviceTensor::upload(p.D, DType::float32);
  auto z = DeviceTensor::upload(p.z, act);
  auto bias = DeviceTensor::upload(p.delta_bias, DType::float32);
  DeviceTensor out(act, {p.batch, p.dim, p.seqlen});
  DeviceTensor last_state(DType::float32, {p.batch, p.dim, p.dstate});
  cuda::dispatch_activation(act, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 128;
    selective_scan_fwd<T><<<cuda::blocks_for(p.batch * p.dim * 32, kBlock), kBlock>>>(
        u.data<T>(), delta.data<T>(), A.data<float>(), Bm.data<T>(), Cm.data<T>(),
        Dv.data<float>(), z.data<T>(), bias.data<float>(), out.data<T>(),
        last_state.data<float>(), static_cast<int>(p.batch), static_cast<int>(p.dim), p.seqlen,
        static_cast<int>(p.dstate), static_cast<int>(p.ngroups), p.delta_softplus);
    SSMKIT_CHECK_LAUNCH("selective_scan");
  });
  return {out.download(), last_state.download()};
}

SelectiveStateUpdateResult CudaBackend::selective_state_update(
    const SelectiveStateUpdateParams& p) {
  const DType act = cuda::activation_dtype(p.input_dtype);
  auto state = DeviceTensor::upload(p.state, DType::float32);
  auto x = DeviceTensor::upload(p.x, act);
  auto dt = DeviceTensor::upload(p.dt, act);
  auto A = DeviceTensor::upload(p.A, DType::float32);
  auto Bm = DeviceTensor::upload(p.B, act);
  auto Cm = DeviceTensor::upload(p.C, act);
  auto Dv = DeviceTensor::upload(p.D, DType::float32);
  auto z = DeviceTensor::upload(p.z, act);
  auto bias = DeviceTensor::upload(p.dt_bias, DType::float32);
  DeviceTensor slots;
  if (!p.state_batch_indices.empty()) {
    slots = DeviceTensor::upload(
        Tensor::from_vector<std::int64_t>({p.batch}, p.state_batch_indices), DType::int64);
  }
  DeviceTensor out(act, {p.batch, p.nheads, p.headdim});
  cuda::dispatch_activation(act, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 128;
    state_update<T><<<cuda::blocks_for(p.batch * p.nheads * p.headdim * 32, kBlock), kBlock>>>(
        state.data<float>(), x.data<T>(), dt.data<T>(), A.data<float>(), Bm.data<T>(),
        Cm.data<T>(), Dv.data<float>(), z.data<T>(), bias.data<float>(),
        slots.data<long long>(), p.pad_slot_id, out.data<T>(), static_cast<int>(p.batch),
        static_cast<int>(p.nheads), static_cast<int>(p.headdim), static_cast<int>(p.dstate),
        static_cast<int>(p.ngroups), p.dt_softplus);
    SSMKIT_CHECK_LAUNCH("selective_state_update");
  });
  return {out.download(), state.download()};
}

}  // namespace ssmkit
