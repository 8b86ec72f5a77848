#pragma once
// What both state-update kernels (registers: selective_state_update.cu; shared memory through
// bulk copies: state_update_bulk.cuh) share: the per-row scalars and the thread tiling.
#include <cuda_bf16.h>

#include "element.cuh"
#include "selective_state_update_device.hpp"

namespace ssmkit::cuda::state_update {

using Args = SelectiveStateUpdateDeviceArgs;

// Per-row scalars of the recurrence: dt after bias/softplus, x, and the output's D*x term
// and silu(z) gate (1 without z). All are loaded before the state arithmetic, so that no load
// waits behind a state store the compiler cannot prove it does not alias.
struct RowInputs {
  float dt, x, dx, gate;
};

// A row's raw inputs: the streaming kernel loads them one tile ahead of their arithmetic.
template <class T>
struct RowLoads {
  T dt, x, z;
  float bias, d;
};

template <class T>
__device__ __forceinline__ RowLoads<T> load_row(const Args& a, long long b, int h, int p) {
  const long long bh = b * a.nheads + h;
  const long long row = bh * a.headdim + p;
  const T* x = static_cast<const T*>(a.x);
  return {static_cast<const T*>(a.dt)[a.dt_per_head ? bh : row], x[row],
          a.z ? static_cast<const T*>(a.z)[row] : x[row],
          a.dt_bias ? a.dt_bias[a.dt_bias_per_head ? h : h * a.headdim + p] : 0.f,
          a.D ? a.D[a.d_per_head ? h : h * a.headdim + p] : 0.f};
}

template <class T>
__device__ __forceinline__ RowInputs finish_row(const Args& a, const RowLoads<T>& r) {
  float dt = to_float(r.dt);
  if (a.dt_bias) dt += r.bias;
  if (a.dt_softplus) dt = fast_softplus(dt);
  const float x = to_float(r.x);
  return {dt, x, r.d * x, a.z ? silu(to_float(r.z)) : 1.f};
}

template <class T>
__device__ __forceinline__ RowInputs row_inputs(const Args& a, long long b, int h, int p) {
  return finish_row(a, load_row<T>(a, b, h, p));
}

template <class S>
struct StateVec;  // how many state elements one 16-byte access holds
template <> struct StateVec<float> { static constexpr int value = 4; };
template <> struct StateVec<__nv_bfloat16> { static constexpr int value = 8; };

// The bandwidth kernel. A row (b, h, p) of the state is N contiguous elements split into
// 16-byte vectors; kTPR consecutive lanes share a row and each thread owns the same vector
// slice of kRPT rows, so B and C (per group) are loaded once per thread and every state
// byte is read and written exactly once, 16 bytes per access, kRPT*kVPT accesses in flight.
template <class T, class S, int kN, int kRowsPerThread>
struct Tiling {
  static constexpr int kVec = StateVec<S>::value;
  static constexpr int kVecsPerRow = kN / kVec;
  static constexpr int kTPR = kVecsPerRow < 32 ? kVecsPerRow : 32;
  static constexpr int kVPT = kVecsPerRow / kTPR;  // vectors per thread and row
  static constexpr int kThreads = 128;
  static constexpr int kRowsPerPass = kThreads / kTPR;
  static constexpr int kRPT = kRowsPerThread;
  static constexpr int kRows = kRowsPerPass * kRPT;
};

}  // namespace ssmkit::cuda::state_update
