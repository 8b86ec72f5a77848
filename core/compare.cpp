#include "ssmkit/compare.hpp"

#include <cmath>
#include <limits>

namespace ssmkit {

Comparison compare(const Tensor& actual, const Tensor& expected, Tolerance tolerance) {
  Comparison c;
  c.tolerance = tolerance;
  c.shape = expected.shape();
  if (actual.shape() != expected.shape()) {
    c.shape_matches = false;
    return c;
  }
  c.elements = expected.numel();
  double diff_sq = 0.0, ref_sq = 0.0;
  double worst_excess = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < c.elements; ++i) {
    const double a = actual.value(i);
    const double e = expected.value(i);
    if (!std::isfinite(a) || !std::isfinite(e)) {
      ++c.nonfinite;
      if (worst_excess < std::numeric_limits<double>::infinity()) {
        worst_excess = std::numeric_limits<double>::infinity();
        c.worst_index = i;
        c.worst_actual = a;
        c.worst_expected = e;
      }
      continue;
    }
    const double err = std::fabs(a - e);
    c.max_abs_error = std::max(c.max_abs_error, err);
    if (e != 0.0) c.max_rel_error = std::max(c.max_rel_error, err / std::fabs(e));
    diff_sq += err * err;
    ref_sq += e * e;
    const double excess = err - (tolerance.atol + tolerance.rtol * std::fabs(e));
    if (!(excess <= 0.0)) ++c.mismatches;  // a NaN tolerance passes nothing
    if (excess > worst_excess) {
      worst_excess = excess;
      c.worst_index = i;
      c.worst_actual = a;
      c.worst_expected = e;
    }
  }
  if (ref_sq > 0.0) {
    c.rel_l2_error = std::sqrt(diff_sq / ref_sq);
  } else {
    c.rel_l2_error = diff_sq > 0.0 ? std::numeric_limits<double>::infinity() : 0.0;
  }
  return c;
}

std::string multi_index_str(const Shape& shape, std::int64_t flat) {
  std::string out = "]";
  for (std::size_t k = shape.size(); k-- > 0;) {
    const std::int64_t d = shape[k] > 0 ? shape[k] : 1;
    out = std::to_string(flat % d) + (k + 1 < shape.size() ? ", " : "") + out;
    flat /= d;
  }
  return "[" + out;
}

}  // namespace ssmkit
