#pragma once
#include "ssmkit/tensor.hpp"

namespace ssmkit {

// RMSNorm over groups of `group_size` features with an optional silu(z) gate applied
// before (norm_before_gate = false, Mamba2's block) or after the normalisation.
struct GatedRmsNormParams {
  std::int64_t rows = 0, dim = 0, group_size = 0;
  double eps = 1e-6;
  bool norm_before_gate = true;
  DType input_dtype = DType::float32;
  Tensor x;       // (rows, dim)
  Tensor weight;  // (dim)
  Tensor bias;    // (dim) or undefined
  Tensor z;       // (rows, dim) or undefined
};

struct GatedRmsNormResult {
  Tensor out;  // (rows, dim)
};

}  // namespace ssmkit
