#include <cmath>
#include <vector>

#include "cpu_backend.hpp"
#include "scalar_math.hpp"

namespace ssmkit {

template <>
GatedRmsNormResult cpu_kernel(const GatedRmsNormParams& p) {
  const auto R = p.rows, D = p.dim, GS = p.group_size;
  GatedRmsNormResult r{Tensor(DType::float64, {R, D})};
  const double* x = p.x.span<double>().data();
  const double* weight = p.weight.span<double>().data();
  const double* bias = cpu::data_or_null(p.bias);
  const double* z = cpu::data_or_null(p.z);
  double* out = r.out.span<double>().data();
  std::vector<double> v(static_cast<std::size_t>(D));
  for (std::int64_t row = 0; row < R; ++row) {
    for (std::int64_t d = 0; d < D; ++d) {
      v[d] = x[row * D + d];
      if (z && !p.norm_before_gate) v[d] *= cpu::silu(z[row * D + d]);
    }
    for (std::int64_t g0 = 0; g0 < D; g0 += GS) {
      double sum_sq = 0.0;
      for (std::int64_t d = g0; d < g0 + GS; ++d) sum_sq += v[d] * v[d];
      const double rstd = 1.0 / std::sqrt(sum_sq / static_cast<double>(GS) + p.eps);
      for (std::int64_t d = g0; d < g0 + GS; ++d) {
        double y = v[d] * rstd * weight[d] + (bias ? bias[d] : 0.0);
        if (z && p.norm_before_gate) y *= cpu::silu(z[row * D + d]);
        out[row * D + d] = y;
      }
    }
  }
  return r;
}

}  // namespace ssmkit
