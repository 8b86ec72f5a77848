#include <vector>

#include "cpu_backend.hpp"
#include "scalar_math.hpp"

namespace ssmkit {

template <>
CausalConv1dResult cpu_kernel(const CausalConv1dParams& p) {
  const auto B = p.batch, D = p.dim, L = p.seqlen, W = p.width;
  CausalConv1dResult r{Tensor(DType::float64, {B, D, L}), Tensor(DType::float64, {B, D, W - 1}),
                       Tensor(DType::float64, {B, D, W})};
  const double* x = p.x.span<double>().data();
  const double* weight = p.weight.span<double>().data();
  const double* bias = cpu::data_or_null(p.bias);
  const double* init = cpu::data_or_null(p.initial_states);
  double* out = r.out.span<double>().data();
  std::vector<double> ext(static_cast<std::size_t>(W - 1 + L));  // [W-1 past inputs, x]
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t d = 0; d < D; ++d) {
      for (std::int64_t k = 0; k < W - 1; ++k) {
        ext[k] = init ? init[(b * D + d) * (W - 1) + k] : 0.0;
      }
      for (std::int64_t t = 0; t < L; ++t) ext[W - 1 + t] = x[(b * D + d) * L + t];
      for (std::int64_t t = 0; t < L; ++t) {
        double acc = bias ? bias[d] : 0.0;
        for (std::int64_t w = 0; w < W; ++w) acc += weight[d * W + w] * ext[t + w];
        out[(b * D + d) * L + t] = p.silu ? cpu::silu(acc) : acc;
      }
      const auto n = static_cast<std::int64_t>(ext.size());
      for (std::int64_t k = 0; k < W - 1; ++k) {
        r.final_states.span<double>()[(b * D + d) * (W - 1) + k] = ext[n - (W - 1) + k];
      }
      for (std::int64_t k = 0; k < W; ++k) {
        r.conv_state.span<double>()[(b * D + d) * W + k] = ext[n - W + k];
      }
    }
  }
  return r;
}

template <>
CausalConv1dUpdateResult cpu_kernel(const CausalConv1dUpdateParams& p) {
  const auto B = p.batch, D = p.dim, L = p.seqlen, W = p.width, S = p.state_len;
  CausalConv1dUpdateResult r{Tensor(DType::float64, {B, D, L}),
                             Tensor(DType::float64, {B, D, S})};
  const double* x = p.x.span<double>().data();
  const double* state = p.conv_state.span<double>().data();
  const double* weight = p.weight.span<double>().data();
  const double* bias = cpu::data_or_null(p.bias);
  std::vector<double> window(static_cast<std::size_t>(S + L));  // [cached columns, new ones]
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t d = 0; d < D; ++d) {
      for (std::int64_t k = 0; k < S; ++k) window[k] = state[(b * D + d) * S + k];
      for (std::int64_t t = 0; t < L; ++t) window[S + t] = x[(b * D + d) * L + t];
      for (std::int64_t t = 0; t < L; ++t) {
        double acc = bias ? bias[d] : 0.0;
        const std::int64_t first = S + t - (W - 1);
        for (std::int64_t w = 0; w < W; ++w) acc += weight[d * W + w] * window[first + w];
        r.out.span<double>()[(b * D + d) * L + t] = p.silu ? cpu::silu(acc) : acc;
      }
      for (std::int64_t k = 0; k < S; ++k) {
        r.conv_state.span<double>()[(b * D + d) * S + k] = window[L + k];
      }
    }
  }
  return r;
}

}  // namespace ssmkit
