#pragma once
// Device-resident causal_conv1d (prefill) and causal_conv1d_update (decode): raw device
// pointers and sizes, no host transfers, no synchronisation.
#include <cuda_runtime.h>

#include <cstdint>

#include "ssmkit/dtype.hpp"

namespace ssmkit::cuda {

// Contiguous tensors; x, initial_states and every output in `act_dtype`, weight and bias in
// float32.
struct CausalConv1dDeviceArgs {
  const void* x = nullptr;               // (batch, dim, seqlen)
  const float* weight = nullptr;         // (dim, width)
  const float* bias = nullptr;           // (dim) or null
  const void* initial_states = nullptr;  // (batch, dim, width-1) or null (zeros)
  void* out = nullptr;                   // (batch, dim, seqlen)
  void* final_states = nullptr;          // (batch, dim, width-1) or null: not wanted
  void* conv_state = nullptr;            // (batch, dim, width) or null: not wanted
  std::int64_t batch = 0, dim = 0, seqlen = 0, width = 0;
  bool silu = false;
  DType act_dtype = DType::float32;
};

struct CausalConv1dUpdateDeviceArgs {
  const void* x = nullptr;        // (batch, dim, seqlen)
  const void* conv_state = nullptr;  // (batch, dim, state_len)
  const float* weight = nullptr;  // (dim, width)
  const float* bias = nullptr;    // (dim) or null
  void* out = nullptr;            // (batch, dim, seqlen)
  void* new_state = nullptr;      // (batch, dim, state_len); may alias conv_state
  // (batch) or null. With it, row b's window is row state_indices[b] of conv_state and
  // new_state (a slot of a state cache, vLLM's conv_state_indices); a negative index marks
  // padding: that row's window is left alone and its out is zero.
  const std::int64_t* state_indices = nullptr;
  std::int64_t batch = 0, dim = 0, seqlen = 1, width = 0, state_len = 0;
  bool silu = false;
  DType act_dtype = DType::float32;
};

void launch_causal_conv1d(const CausalConv1dDeviceArgs& args, cudaStream_t stream);
void launch_causal_conv1d_update(const CausalConv1dUpdateDeviceArgs& args, cudaStream_t stream);

}  // namespace ssmkit::cuda
