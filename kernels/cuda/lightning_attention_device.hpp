#pragma once
// Device-resident lightning attention (linear attention with a per-head decay): raw device
// pointers and sizes, no host transfers, no synchronisation.
#include <cuda_runtime.h>

#include <cstdint>

#include "ssmkit/dtype.hpp"

namespace ssmkit::cuda {

struct LightningAttentionDeviceArgs {
  const void* q = nullptr;              // (batch, nheads, seqlen, key_dim) in act_dtype
  const void* k = nullptr;              // (batch, nheads, seqlen, key_dim)
  const void* v = nullptr;              // (batch, nheads, seqlen, value_dim)
  const float* slope = nullptr;         // (nheads)
  const float* initial_state = nullptr;  // (batch, nheads, key_dim, value_dim) or null
  void* out = nullptr;                  // (batch, nheads, seqlen, value_dim) in act_dtype
  float* final_state = nullptr;         // (batch, nheads, key_dim, value_dim)
  std::int64_t batch = 0, nheads = 0, seqlen = 0, key_dim = 0, value_dim = 0;
  DType act_dtype = DType::float32;
};

void launch_lightning_attention(const LightningAttentionDeviceArgs& args, cudaStream_t stream);

}  // namespace ssmkit::cuda
