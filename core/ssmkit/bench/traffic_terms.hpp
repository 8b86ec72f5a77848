#pragma once
// Terms of the ops' traffic formulas (core/ops/<family>.cpp). Bytes: every input read once,
// every output written once, in the device backend's storage dtypes (activations `a` bytes,
// float32 parameters 4, states `s`). FLOPs: a multiply-add counts 2, exp/log/division 1.
#include "ssmkit/tensor.hpp"

namespace ssmkit::bench {

// Bytes of one activation: float64 inputs run as float32 on a device.
inline double act_bytes(DType input_dtype) {
  return static_cast<double>(dtype_size(input_dtype == DType::float64 ? DType::float32 : input_dtype));
}
// Elements of an optional tensor (0 when absent).
inline double n_or0(const Tensor& t) { return t.defined() ? static_cast<double>(t.numel()) : 0.0; }

}  // namespace ssmkit::bench
