#pragma once
#include <cstdint>
#include <string>

#include "ssmkit/tensor.hpp"

namespace ssmkit {

struct Tolerance {
  double atol = 0.0;
  double rtol = 0.0;
};

// How far `actual` is from `expected`, element by element. An element passes when
// |actual - expected| <= atol + rtol * |expected| (torch.allclose's rule, equal_nan=False);
// a NaN or Inf in either tensor fails the comparison whatever the tolerance.
struct Comparison {
  bool shape_matches = true;
  Shape shape;  // the expected tensor's
  std::int64_t elements = 0;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;  // over elements whose expected value is nonzero
  double rel_l2_error = 0.0;   // ||actual - expected|| / ||expected||
  std::int64_t mismatches = 0;
  std::int64_t nonfinite = 0;
  std::int64_t worst_index = -1;  // flat index of the element furthest past its bound
  double worst_actual = 0.0;
  double worst_expected = 0.0;
  Tolerance tolerance;

  bool passed() const { return shape_matches && mismatches == 0 && nonfinite == 0; }
};

Comparison compare(const Tensor& actual, const Tensor& expected, Tolerance tolerance);

// "[1, 0, 3]" for a flat index into `shape`.
std::string multi_index_str(const Shape& shape, std::int64_t flat_index);

}  // namespace ssmkit
