#pragma once
#include "ssmkit/tensor.hpp"

namespace ssmkit {

// Depthwise causal convolution over time (Mamba's short conv). Float tensors are float64
// and contiguous; `input_dtype` says which precision a backend may compute in.
struct CausalConv1dParams {
  std::int64_t batch = 0, dim = 0, seqlen = 0, width = 0;
  bool silu = false;
  DType input_dtype = DType::float32;
  Tensor x;               // (batch, dim, seqlen)
  Tensor weight;          // (dim, width)
  Tensor bias;            // (dim) or undefined
  Tensor initial_states;  // (batch, dim, width-1) or undefined: the inputs before t=0
};

struct CausalConv1dResult {
  Tensor out;           // (batch, dim, seqlen)
  Tensor final_states;  // (batch, dim, width-1): causal-conv1d's carried state
  Tensor conv_state;    // (batch, dim, width): HF/EasyDeL's cache window, newest last
};

// One decode step (or a few tokens) through a cached conv window of state_len >= width-1
// columns: the window is shifted left and the new column appended.
struct CausalConv1dUpdateParams {
  std::int64_t batch = 0, dim = 0, seqlen = 1, width = 0, state_len = 0;
  bool silu = false;
  DType input_dtype = DType::float32;
  Tensor x;           // (batch, dim, seqlen)
  Tensor conv_state;  // (batch, dim, state_len)
  Tensor weight;      // (dim, width)
  Tensor bias;        // (dim) or undefined
};

struct CausalConv1dUpdateResult {
  Tensor out;         // (batch, dim, seqlen)
  Tensor conv_state;  // (batch, dim, state_len)
};

}  // namespace ssmkit
