#pragma once
// Small pieces the drift sources share.
#include <cmath>

namespace ssmkit::drift {

inline double to_float32(double v) { return static_cast<double>(static_cast<float>(v)); }

// torch.nn.functional.softplus with its default threshold (linear above 20), as the
// kernels apply it to dt + dt_bias.
inline double softplus(double v) { return v > 20.0 ? v : std::log1p(std::exp(v)); }

}  // namespace ssmkit::drift
