#include <cmath>
#include <vector>

#include "cpu_backend.hpp"

namespace ssmkit {
namespace {

// One sequence of one value head: tokens [t0, t1) of batch row b, the K x V state in S.
// `o` is (batch, seqlen, v_heads, value_dim).
template <DeltaDecay Decay>
void run_head(const DeltaRuleInputs& p, std::int64_t b, std::int64_t hv, std::int64_t t0,
              std::int64_t t1, std::vector<double>& S, double* o) {
  const auto T = p.seqlen, H = p.nheads, HV = p.v_heads, K = p.key_dim, V = p.value_dim;
  const std::int64_t h = hv / (HV / H);
  const double* q = p.q.span<double>().data();
  const double* k = p.k.span<double>().data();
  const double* v = p.v.span<double>().data();
  const double* g = p.g.span<double>().data();
  const double* beta = p.beta.span<double>().data();
  std::vector<double> qt(static_cast<std::size_t>(K)), kt(static_cast<std::size_t>(K));
  for (std::int64_t t = t0; t < t1; ++t) {
    const std::int64_t row = b * T + t;  // token index over (batch, seqlen)
    double qn = 0.0, kn = 0.0;
    for (std::int64_t i = 0; i < K; ++i) {
      qt[i] = q[(row * H + h) * K + i];
      kt[i] = k[(row * H + h) * K + i];
      qn += qt[i] * qt[i];
      kn += kt[i] * kt[i];
    }
    if (p.qk_l2norm) {
      const double rq = 1.0 / std::sqrt(qn + 1e-6), rk = 1.0 / std::sqrt(kn + 1e-6);
      for (std::int64_t i = 0; i < K; ++i) qt[i] *= rq, kt[i] *= rk;
    }
    const double head_decay = Decay == DeltaDecay::per_head ? std::exp(g[row * HV + hv]) : 0.0;
    for (std::int64_t i = 0; i < K; ++i) {
      const double decay = Decay == DeltaDecay::per_key ? std::exp(g[(row * HV + hv) * K + i]) : head_decay;
      for (std::int64_t c = 0; c < V; ++c) S[i * V + c] *= decay;
    }
    const double bt = beta[row * HV + hv];
    for (std::int64_t c = 0; c < V; ++c) {
      double predicted = 0.0;
      for (std::int64_t i = 0; i < K; ++i) predicted += S[i * V + c] * kt[i];
      const double u = bt * (v[(row * HV + hv) * V + c] - predicted);
      double y = 0.0;
      for (std::int64_t i = 0; i < K; ++i) {
        S[i * V + c] += kt[i] * u;
        y += S[i * V + c] * qt[i];
      }
      o[(row * HV + hv) * V + c] = p.scale * y;
    }
  }
}

}  // namespace

template <DeltaDecay Decay>
DeltaRuleResult<Decay> delta_rule_prefill(const DeltaRuleParams<Decay>& p) {
  const auto N = p.sequences(), HV = p.v_heads, K = p.key_dim, V = p.value_dim;
  DeltaRuleResult<Decay> r{Tensor(DType::float64, {p.batch, p.seqlen, HV, V}),
                           Tensor(DType::float64, {N, HV, K, V})};
  const double* init = p.initial_state.defined() ? p.initial_state.template span<double>().data() : nullptr;
  double* final_state = r.final_state.template span<double>().data();
  std::vector<double> S(static_cast<std::size_t>(K * V));
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int64_t b = p.cu_seqlens.empty() ? n : 0;
    const std::int64_t t0 = p.cu_seqlens.empty() ? 0 : p.cu_seqlens[n];
    const std::int64_t t1 = p.cu_seqlens.empty() ? p.seqlen : p.cu_seqlens[n + 1];
    for (std::int64_t hv = 0; hv < HV; ++hv) {
      const std::int64_t at = (n * HV + hv) * K * V;
      for (std::int64_t i = 0; i < K * V; ++i) S[i] = init ? init[at + i] : 0.0;
      run_head<Decay>(p, b, hv, t0, t1, S, r.o.template span<double>().data());
      std::copy(S.begin(), S.end(), final_state + at);
    }
  }
  return r;
}

template <DeltaDecay Decay>
DeltaRuleUpdateResult<Decay> delta_rule_update(const DeltaRuleUpdateParams<Decay>& p) {
  const auto HV = p.v_heads, K = p.key_dim, V = p.value_dim;
  // The pool starts as the input state; padded rows leave their outputs zero.
  DeltaRuleUpdateResult<Decay> r{Tensor(DType::float64, {p.batch, p.seqlen, HV, V}),
                                 p.state.to(DType::float64)};
  double* pool = r.final_state.template span<double>().data();
  std::vector<double> S(static_cast<std::size_t>(K * V));
  for (std::int64_t b = 0; b < p.batch; ++b) {
    const std::int64_t slot = p.state_indices.empty() ? b : p.state_indices[b];
    if (!p.state_indices.empty() && slot == p.pad_slot_id) continue;
    for (std::int64_t hv = 0; hv < HV; ++hv) {
      double* s = pool + (slot * HV + hv) * K * V;
      std::copy(s, s + K * V, S.begin());
      run_head<Decay>(p, b, hv, 0, p.seqlen, S, r.o.template span<double>().data());
      std::copy(S.begin(), S.end(), s);
    }
  }
  return r;
}

template <>
GatedDeltaRuleResult cpu_kernel(const GatedDeltaRuleParams& p) {
  return delta_rule_prefill(p);
}
template <>
KdaResult cpu_kernel(const KdaParams& p) {
  return delta_rule_prefill(p);
}
template <>
GatedDeltaRuleUpdateResult cpu_kernel(const GatedDeltaRuleUpdateParams& p) {
  return delta_rule_update(p);
}
template <>
KdaUpdateResult cpu_kernel(const KdaUpdateParams& p) {
  return delta_rule_update(p);
}

}  // namespace ssmkit
