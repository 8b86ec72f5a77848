#pragma once
// Seeded random inputs for bench calls: the same seed gives the same tensors on every run
// and machine, so that every backend and the reference see identical values.
#include <cstdint>
#include <vector>

#include "ssmkit/tensor.hpp"

namespace ssmkit::bench {

std::uint64_t splitmix64(std::uint64_t& state);

// Uniform in [lo, hi), rounded to `dtype` (values exactly representable there), as a
// float64 tensor. Bounds are chosen by callers away from zero or wide enough that zeros are
// vanishingly rare.
Tensor random_tensor(Shape shape, double lo, double hi, DType dtype, std::uint64_t seed);

// 0..n-1 in a seeded random order.
std::vector<std::int64_t> shuffled(std::int64_t n, std::uint64_t seed);

// Successive tensors of one call, each from its own stream derived from the call's seed.
class RandomInputs {
 public:
  explicit RandomInputs(std::uint64_t seed) : seed_(seed) {}
  Tensor operator()(Shape shape, double lo, double hi, DType dtype) {
    return random_tensor(std::move(shape), lo, hi, dtype, seed_ * 131 + static_cast<std::uint64_t>(next_++));
  }

 private:
  std::uint64_t seed_;
  int next_ = 0;
};

// Parameters (A, D, biases, weights) are stored in float32 by every device backend.
constexpr DType kParamDtype = DType::float32;

}  // namespace ssmkit::bench
