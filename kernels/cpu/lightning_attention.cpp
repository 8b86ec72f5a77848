#include <cmath>
#include <vector>

#include "cpu_backend.hpp"
#include "scalar_math.hpp"

namespace ssmkit {

template <>
LightningAttentionResult cpu_kernel(const LightningAttentionParams& p) {
  const auto Bsz = p.batch, H = p.nheads, L = p.seqlen, K = p.key_dim, V = p.value_dim;
  LightningAttentionResult r{Tensor(DType::float64, {Bsz, H, L, V}),
                             Tensor(DType::float64, {Bsz, H, K, V})};
  const double* q = p.q.span<double>().data();
  const double* k = p.k.span<double>().data();
  const double* v = p.v.span<double>().data();
  const double* init = cpu::data_or_null(p.initial_state);
  double* out = r.out.span<double>().data();
  std::vector<double> S(static_cast<std::size_t>(K * V));
  for (std::int64_t b = 0; b < Bsz; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t bh = b * H + h;
      for (std::int64_t i = 0; i < K * V; ++i) S[i] = init ? init[bh * K * V + i] : 0.0;
      const double decay = std::exp(-p.slope.span<double>()[h]);
      for (std::int64_t t = 0; t < L; ++t) {
        const double* qt = q + (bh * L + t) * K;
        const double* kt = k + (bh * L + t) * K;
        const double* vt = v + (bh * L + t) * V;
        for (std::int64_t a = 0; a < K; ++a) {
          for (std::int64_t c = 0; c < V; ++c) S[a * V + c] = decay * S[a * V + c] + kt[a] * vt[c];
        }
        for (std::int64_t c = 0; c < V; ++c) {
          double y = 0.0;
          for (std::int64_t a = 0; a < K; ++a) y += qt[a] * S[a * V + c];
          out[(bh * L + t) * V + c] = y;
        }
      }
      std::copy(S.begin(), S.end(), r.final_state.span<double>().begin() + bh * K * V);
    }
  }
  return r;
}

}  // namespace ssmkit
