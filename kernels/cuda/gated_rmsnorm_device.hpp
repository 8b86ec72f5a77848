#pragma once
// Device-resident gated RMSNorm: raw device pointers and sizes, no host transfers, no
// synchronisation.
#include <cuda_runtime.h>

#include <cstdint>

#include "ssmkit/dtype.hpp"

namespace ssmkit::cuda {

struct GatedRmsNormDeviceArgs {
  const void* x = nullptr;       // (rows, dim) in act_dtype
  const void* z = nullptr;       // (rows, dim) in act_dtype, or null
  const float* weight = nullptr;  // (dim)
  const float* bias = nullptr;    // (dim) or null
  void* out = nullptr;            // (rows, dim) in act_dtype
  std::int64_t rows = 0, dim = 0, group_size = 0;
  float eps = 1e-6f;
  bool norm_before_gate = true;
  DType act_dtype = DType::float32;
};

void launch_gated_rmsnorm(const GatedRmsNormDeviceArgs& args, cudaStream_t stream);

}  // namespace ssmkit::cuda
