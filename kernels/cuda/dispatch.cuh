#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "ssmkit/dtype.hpp"

namespace ssmkit::cuda {

template <class T>
struct TypeTag {
  using type = T;
};

// The one place where a runtime activation dtype becomes a template parameter.
template <class F>
void dispatch_activation(DType dtype, F&& f) {
  switch (dtype) {
    case DType::float32: f(TypeTag<float>{}); return;
    case DType::bfloat16: f(TypeTag<__nv_bfloat16>{}); return;
    case DType::float16: f(TypeTag<__half>{}); return;
    default:
      throw std::invalid_argument("cuda: no kernels for activation dtype " +
                                  std::string(dtype_name(dtype)));
  }
}

// The same for kernels whose products run on 16-bit tensor-core operands only.
template <class F>
void dispatch_tensor_core_activation(DType dtype, F&& f) {
  switch (dtype) {
    case DType::bfloat16: f(TypeTag<__nv_bfloat16>{}); return;
    case DType::float16: f(TypeTag<__half>{}); return;
    default:
      throw std::invalid_argument("cuda: no tensor-core kernels for activation dtype " +
                                  std::string(dtype_name(dtype)));
  }
}

// A recurrent state kept in float32 or bfloat16 (the decode ops' state pools): f(activation
// tag, state tag).
template <class F>
void dispatch_activation_and_state(DType act, DType state, const char* op, F&& f) {
  dispatch_activation(act, [&](auto a) {
    switch (state) {
      case DType::float32: f(a, TypeTag<float>{}); return;
      case DType::bfloat16: f(a, TypeTag<__nv_bfloat16>{}); return;
      default:
        throw std::invalid_argument(std::string("cuda: ") + op + " has no kernel for state dtype " +
                                    std::string(dtype_name(state)));
    }
  });
}

constexpr int kMaxStatePerLane = 8;  // dstate / key_dim up to 256 held by one warp
inline void require_warp_state(long long size, const char* what) {
  if (size > 32 * kMaxStatePerLane) {
    throw std::invalid_argument(std::string("cuda: ") + what + " = " + std::to_string(size) +
                                " exceeds the supported 256");
  }
}

inline unsigned blocks_for(long long threads, int block) {
  return static_cast<unsigned>((threads + block - 1) / block);
}

// An attribute of the current device, for launchers that choose a kernel or size a grid by it.
inline int current_device_attribute(cudaDeviceAttr attr) {
  int device = 0, value = 0;
  SSMKIT_CUDA_CHECK(cudaGetDevice(&device));
  SSMKIT_CUDA_CHECK(cudaDeviceGetAttribute(&value, attr, device));
  return value;
}

inline int current_sm_count() { return current_device_attribute(cudaDevAttrMultiProcessorCount); }

// Whether 16-byte vector accesses may start at p (null counts: absent tensors are not read).
inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace ssmkit::cuda
