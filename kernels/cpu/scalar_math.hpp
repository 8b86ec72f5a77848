#pragma once
#include <cmath>
#include <span>

#include "ssmkit/tensor.hpp"

namespace ssmkit::cpu {

// torch.nn.functional.softplus with its default threshold: linear above 20.
inline double softplus(double v) { return v > 20.0 ? v : std::log1p(std::exp(v)); }
inline double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }
inline double silu(double v) { return v * sigmoid(v); }

// Optional tensors arrive undefined; their spans are empty.
inline const double* data_or_null(const Tensor& t) {
  return t.defined() ? t.span<double>().data() : nullptr;
}

}  // namespace ssmkit::cpu
