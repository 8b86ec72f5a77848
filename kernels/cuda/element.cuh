#pragma once
// Loads and stores of the activation types; all arithmetic is float32.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace ssmkit::cuda {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }

template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }

// Optional float32 parameter: `fallback` where the tensor is absent.
__device__ __forceinline__ float load_or(const float* p, long long i, float fallback) {
  return p ? p[i] : fallback;
}

__device__ __forceinline__ float softplus(float v) { return v > 20.f ? v : log1pf(expf(v)); }

// 1/v in one MUFU.RCP (about 1 ulp); rcp(inf) = 0.
__device__ __forceinline__ float fast_rcp(float v) {
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
}
// 2^v in one MUFU.EX2 (relative error about 2^-22); callers fold log2(e) into A once.
__device__ __forceinline__ float fast_exp2(float v) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
}
constexpr float kLog2e = 1.4426950408889634f;

// v * sigmoid(v) through MUFU (a few ulp, far inside every tolerance) instead of expf and
// an IEEE division, which cost ~25 instructions per element in elementwise kernels; the
// flush-to-zero ex2 also skips __expf's denormal fix-up (3 instructions). Large negative v:
// exp overflows to inf, rcp gives 0, the result is -0.
__device__ __forceinline__ float silu(float v) {
  return v * fast_rcp(1.f + fast_exp2(-v * kLog2e));
}

// softplus in ~15 instructions instead of ~50 (expf + log1pf), for kernels that apply it
// per element: x = e^v; log1p(x) by its series below 2^-6 (truncation < 1e-9 relative),
// else Kahan's log(1+x) * x / ((1+x) - 1), which cancels the rounding of 1+x, with the
// MUFU log (absolute error ~2^-22, so ~1e-5 relative at the switch point, less above).
__device__ __forceinline__ float fast_softplus(float v) {
  if (v > 20.f) return v;
  const float x = __expf(v);
  if (x < 0.015625f) return x * (1.f - x * (0.5f - x * (1.f / 3.f - x * 0.25f)));
  const float u = 1.f + x;
  return __logf(u) * (x * fast_rcp(u - 1.f));
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

}  // namespace ssmkit::cuda

namespace ssmkit::cuda {

// kN consecutive elements moved as one access (16 bytes: LDG.128/STG.128) when the address
// is aligned to the whole array, which callers guarantee.
template <class T, int kN>
struct alignas(sizeof(T) * kN) Array {
  T v[kN];
};

template <int kN, class T>
__device__ __forceinline__ Array<T, kN> load_array(const T* p) {
  return *reinterpret_cast<const Array<T, kN>*>(p);
}
template <int kN, class T>
__device__ __forceinline__ void store_array(T* p, const Array<T, kN>& a) {
  *reinterpret_cast<Array<T, kN>*>(p) = a;
}

// The same for 16-byte arrays, marked evict-first (ld/st.global.cs): for bytes touched once,
// so that they do not push what other blocks reuse out of L2.
template <int kN, class T>
__device__ __forceinline__ Array<T, kN> load_array_streaming(const T* p) {
  static_assert(sizeof(Array<T, kN>) == sizeof(uint4));
  const uint4 r = __ldcs(reinterpret_cast<const uint4*>(p));
  Array<T, kN> a;
  memcpy(&a, &r, sizeof r);
  return a;
}
template <int kN, class T>
__device__ __forceinline__ void store_array_streaming(T* p, const Array<T, kN>& a) {
  static_assert(sizeof(Array<T, kN>) == sizeof(uint4));
  uint4 r;
  memcpy(&r, &a, sizeof r);
  __stcs(reinterpret_cast<uint4*>(p), r);
}

}  // namespace ssmkit::cuda
