#include <algorithm>
#include <vector>

#include "cpu_backend.hpp"
#include "scalar_math.hpp"

namespace ssmkit {
namespace {

// The SSD decomposition of Mamba2 (Dao & Gu 2024, section 6), in float64, for one
// (batch row, head): within a chunk the output is a masked quadratic form; across chunks
// only a (P x N) state is passed, decayed by the chunk's summed dt*A. Sequence
// boundaries (seq_idx) cut both the mask and the passing, so packed sequences never see
// each other. Written chunk by chunk on purpose: results for different chunk sizes must
// agree with each other and with the token recurrence the goldens use.
class ChunkedHeadScan {
 public:
  ChunkedHeadScan(const ChunkScanParams& p, std::int64_t b, std::int64_t h)
      : p_(p), b_(b), h_(h), g_(h / (p.nheads / p.ngroups)) {
    const auto L = p.seqlen;
    dt_.resize(L);
    const double* dt = p.dt.span<double>().data();
    const double* bias = cpu::data_or_null(p.dt_bias);
    for (std::int64_t t = 0; t < L; ++t) {
      double v = dt[(b * L + t) * p.nheads + h] + (bias ? bias[h] : 0.0);
      if (p.dt_softplus) v = cpu::softplus(v);
      dt_[t] = std::clamp(v, p.dt_min, p.dt_max);
    }
  }

  std::int64_t seq(std::int64_t t) const {
    return p_.seq_idx.empty() ? 0 : p_.seq_idx[b_ * p_.seqlen + t];
  }
  const double* x(std::int64_t t) const {
    return p_.x.span<double>().data() + ((b_ * p_.seqlen + t) * p_.nheads + h_) * p_.headdim;
  }
  const double* Bv(std::int64_t t) const { return bc(p_.B, t); }
  const double* Cv(std::int64_t t) const { return bc(p_.C, t); }

  // Runs every chunk; calls on_state(t, state) for each t in `wanted` (ascending).
  template <class OnState>
  std::vector<double> run(double* out, const std::vector<std::int64_t>& wanted, OnState on_state) {
    const auto L = p_.seqlen, P = p_.headdim, N = p_.dstate, Q = p_.chunk_size;
    const double A = p_.A.span<double>()[h_];
    std::vector<double> carried(P * N, 0.0);  // state at the end of the previous chunk
    if (p_.initial_states.defined()) {
      const double* init = p_.initial_states.span<double>().data() + (b_ * p_.nheads + h_) * P * N;
      std::copy(init, init + P * N, carried.begin());
    }
    std::int64_t carried_seq = seq(0);
    std::vector<double> cumsum(std::min(Q, L)), state(P * N);
    auto next_wanted = wanted.begin();
    for (std::int64_t start = 0; start < L; start += Q) {
      const std::int64_t len = std::min(Q, L - start);
      double acc = 0.0;
      for (std::int64_t i = 0; i < len; ++i) cumsum[i] = acc += dt_[start + i] * A;
      // Intra-chunk quadratic form plus the carried state's contribution.
      for (std::int64_t i = 0; i < len; ++i) {
        const std::int64_t t = start + i;
        for (std::int64_t q = 0; q < P; ++q) out_row(out, t)[q] = 0.0;
        if (seq(t) == carried_seq) {
          const double decay = std::exp(cumsum[i]);
          for (std::int64_t q = 0; q < P; ++q) {
            double y = 0.0;
            for (std::int64_t n = 0; n < N; ++n) y += carried[q * N + n] * Cv(t)[n];
            out_row(out, t)[q] += decay * y;
          }
        }
        for (std::int64_t j = 0; j <= i; ++j) {
          if (seq(start + j) != seq(t)) continue;
          double cb = 0.0;
          for (std::int64_t n = 0; n < N; ++n) cb += Cv(t)[n] * Bv(start + j)[n];
          const double w = cb * std::exp(cumsum[i] - cumsum[j]) * dt_[start + j];
          for (std::int64_t q = 0; q < P; ++q) out_row(out, t)[q] += w * x(start + j)[q];
        }
      }
      // States inside this chunk that someone wants (varlen ends), then the chunk's end.
      while (next_wanted != wanted.end() && *next_wanted < start + len) {
        state_at(*next_wanted, start, cumsum, carried, carried_seq, state);
        on_state(*next_wanted, state);
        ++next_wanted;
      }
      state_at(start + len - 1, start, cumsum, carried, carried_seq, state);
      carried.swap(state);
      carried_seq = seq(start + len - 1);
    }
    return carried;
  }

 private:
  const double* bc(const Tensor& t, std::int64_t pos) const {
    return t.span<double>().data() + ((b_ * p_.seqlen + pos) * p_.ngroups + g_) * p_.dstate;
  }
  double* out_row(double* out, std::int64_t t) const {
    return out + ((b_ * p_.seqlen + t) * p_.nheads + h_) * p_.headdim;
  }

  // The state after position e of the chunk starting at `start`: the carried state decayed
  // to e (if e continues the carried sequence) plus this chunk's inputs of e's sequence.
  void state_at(std::int64_t e, std::int64_t start, const std::vector<double>& cumsum,
                const std::vector<double>& carried, std::int64_t carried_seq,
                std::vector<double>& state) const {
    const auto P = p_.headdim, N = p_.dstate;
    const std::int64_t ie = e - start;
    const double carry = seq(e) == carried_seq ? std::exp(cumsum[ie]) : 0.0;
    for (std::int64_t k = 0; k < P * N; ++k) state[k] = carry * carried[k];
    for (std::int64_t j = 0; j <= ie; ++j) {
      if (seq(start + j) != seq(e)) continue;
      const double w = std::exp(cumsum[ie] - cumsum[j]) * dt_[start + j];
      for (std::int64_t q = 0; q < P; ++q) {
        const double wx = w * x(start + j)[q];
        for (std::int64_t n = 0; n < N; ++n) state[q * N + n] += wx * Bv(start + j)[n];
      }
    }
  }

  const ChunkScanParams& p_;
  std::int64_t b_, h_, g_;
  std::vector<double> dt_;
};

}  // namespace

template <>
ChunkScanResult cpu_kernel(const ChunkScanParams& p) {
  const auto Bsz = p.batch, L = p.seqlen, H = p.nheads, P = p.headdim, N = p.dstate;
  ChunkScanResult r{Tensor(DType::float64, {Bsz, L, H, P}), Tensor(DType::float64, {Bsz, H, P, N}),
                    {}};
  const auto nseq = p.cu_seqlens.empty() ? 0 : static_cast<std::int64_t>(p.cu_seqlens.size()) - 1;
  std::vector<std::int64_t> seq_ends;
  for (std::int64_t s = 0; s < nseq; ++s) seq_ends.push_back(p.cu_seqlens[s + 1] - 1);
  if (nseq > 0) r.varlen_states = Tensor(DType::float64, {nseq, H, P, N});
  double* out = r.out.span<double>().data();
  for (std::int64_t b = 0; b < Bsz; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      ChunkedHeadScan scan(p, b, h);
      std::int64_t s = 0;
      auto final_state = scan.run(out, seq_ends, [&](std::int64_t, const std::vector<double>& st) {
        std::copy(st.begin(), st.end(), r.varlen_states.span<double>().begin() + (s++ * H + h) * P * N);
      });
      std::copy(final_state.begin(), final_state.end(),
                r.final_states.span<double>().begin() + (b * H + h) * P * N);
    }
  }
  // D skip connection and z gate act per position, after the scan.
  const double* Dv = cpu::data_or_null(p.D);
  const double* z = cpu::data_or_null(p.z);
  const double* x = p.x.span<double>().data();
  for (std::int64_t i = 0; i < Bsz * L * H * P; ++i) {
    const std::int64_t hq = i % (H * P);
    if (Dv) out[i] += Dv[hq] * x[i];
    if (z) out[i] *= cpu::silu(z[i]);
  }
  return r;
}

}  // namespace ssmkit
