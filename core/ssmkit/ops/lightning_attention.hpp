#pragma once
#include "ssmkit/tensor.hpp"

namespace ssmkit {

// Linear attention with a per-head decay (MiniMax-01's lightning attention):
// S_t = exp(-slope_h) S_{t-1} + k_t^T v_t, o_t = q_t S_t.
struct LightningAttentionParams {
  std::int64_t batch = 0, nheads = 0, seqlen = 0, key_dim = 0, value_dim = 0;
  DType input_dtype = DType::float32;
  Tensor q, k;           // (batch, nheads, seqlen, key_dim)
  Tensor v;              // (batch, nheads, seqlen, value_dim)
  Tensor slope;          // (nheads)
  Tensor initial_state;  // (batch, nheads, key_dim, value_dim) or undefined
};

struct LightningAttentionResult {
  Tensor out;          // (batch, nheads, seqlen, value_dim)
  Tensor final_state;  // (batch, nheads, key_dim, value_dim)
};

}  // namespace ssmkit
