#include <vector>

#include "cpu_backend.hpp"
#include "scalar_math.hpp"

namespace ssmkit {

template <>
SelectiveScanResult cpu_kernel(const SelectiveScanParams& p) {
  const auto Bsz = p.batch, D = p.dim, L = p.seqlen, N = p.dstate, G = p.ngroups;
  const auto channels_per_group = D / G;
  SelectiveScanResult r{Tensor(DType::float64, {Bsz, D, L}), Tensor(DType::float64, {Bsz, D, N})};
  const double* u = p.u.span<double>().data();
  const double* delta = p.delta.span<double>().data();
  const double* A = p.A.span<double>().data();
  const double* Bm = p.B.span<double>().data();
  const double* Cm = p.C.span<double>().data();
  const double* Dv = cpu::data_or_null(p.D);
  const double* z = cpu::data_or_null(p.z);
  const double* delta_bias = cpu::data_or_null(p.delta_bias);
  double* out = r.out.span<double>().data();
  std::vector<double> h(static_cast<std::size_t>(N));
  for (std::int64_t b = 0; b < Bsz; ++b) {
    for (std::int64_t d = 0; d < D; ++d) {
      const std::int64_t g = d / channels_per_group;
      const double* Bg = Bm + (b * G + g) * N * L;
      const double* Cg = Cm + (b * G + g) * N * L;
      std::fill(h.begin(), h.end(), 0.0);
      for (std::int64_t t = 0; t < L; ++t) {
        const std::int64_t i = (b * D + d) * L + t;
        double dt = delta[i] + (delta_bias ? delta_bias[d] : 0.0);
        if (p.delta_softplus) dt = cpu::softplus(dt);
        double y = 0.0;
        for (std::int64_t n = 0; n < N; ++n) {
          h[n] = std::exp(dt * A[d * N + n]) * h[n] + dt * Bg[n * L + t] * u[i];
          y += Cg[n * L + t] * h[n];
        }
        if (Dv) y += Dv[d] * u[i];
        if (z) y *= cpu::silu(z[i]);
        out[i] = y;
      }
      std::copy(h.begin(), h.end(), r.last_state.span<double>().begin() + (b * D + d) * N);
    }
  }
  return r;
}

template <>
SelectiveStateUpdateResult cpu_kernel(const SelectiveStateUpdateParams& p) {
  const auto Bsz = p.batch, H = p.nheads, P = p.headdim, N = p.dstate, G = p.ngroups;
  const auto heads_per_group = H / G;
  SelectiveStateUpdateResult r{Tensor(DType::float64, {Bsz, H, P}), p.state};
  double* state = r.state.span<double>().data();
  const double* x = p.x.span<double>().data();
  const double* dt_in = p.dt.span<double>().data();
  const double* A = p.A.span<double>().data();
  const double* Bm = p.B.span<double>().data();
  const double* Cm = p.C.span<double>().data();
  const double* Dv = cpu::data_or_null(p.D);
  const double* z = cpu::data_or_null(p.z);
  const double* dt_bias = cpu::data_or_null(p.dt_bias);
  double* out = r.out.span<double>().data();
  // Per-head layouts (see the params) read one value for every channel of a head.
  const bool dt_per_head = p.dt.rank() == 2, a_per_head = p.A.rank() == 1;
  const bool d_per_head = p.D.defined() && p.D.rank() == 1;
  const bool bias_per_head = p.dt_bias.defined() && p.dt_bias.rank() == 1;
  for (std::int64_t b = 0; b < Bsz; ++b) {
    const std::int64_t slot = p.state_batch_indices.empty() ? b : p.state_batch_indices[b];
    if (slot == p.pad_slot_id) continue;
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t g = h / heads_per_group;
      for (std::int64_t q = 0; q < P; ++q) {
        const std::int64_t i = (b * H + h) * P + q;
        double dt = dt_in[dt_per_head ? b * H + h : i] +
                    (dt_bias ? dt_bias[bias_per_head ? h : h * P + q] : 0.0);
        if (p.dt_softplus) dt = cpu::softplus(dt);
        double* s = state + ((slot * H + h) * P + q) * N;
        double y = 0.0;
        for (std::int64_t n = 0; n < N; ++n) {
          const double a = A[a_per_head ? h : (h * P + q) * N + n];
          s[n] = s[n] * std::exp(dt * a) + dt * Bm[(b * G + g) * N + n] * x[i];
          y += s[n] * Cm[(b * G + g) * N + n];
        }
        if (Dv) y += Dv[d_per_head ? h : h * P + q] * x[i];
        if (z) y *= cpu::silu(z[i]);
        out[i] = y;
      }
    }
  }
  return r;
}

}  // namespace ssmkit
