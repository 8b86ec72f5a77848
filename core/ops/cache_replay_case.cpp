// Replays a model's projected inputs through ssmkit's state caches and a backend's ops:
// a prefill, then single-token decode steps, recording the conv window and SSM state after
// each. The goldens come from HF transformers' own mixers and caches
// (scripts/make_replay_goldens.py), so this checks the cache layout and the step
// semantics, not just the kernels. The caches live where the backend keeps cache storage
// (Backend::storage_allocator(): device memory for CUDA); the ops still take and return host
// tensors, so each step copies the batch's rows out of the cache and back.
#include <cmath>
#include <numeric>

#include "case_util.hpp"
#include "ssmkit/cache/mamba_state_cache.hpp"

namespace ssmkit {
namespace {

// (rows, len, channels) -> (rows, channels, len), columns [first, first + count) only.
Tensor channels_first(const Tensor& t, std::int64_t first, std::int64_t count) {
  const auto R = t.dim(0), L = t.dim(1), C = t.dim(2);
  Tensor out(DType::float64, {R, count, L});
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t l = 0; l < L; ++l)
      for (std::int64_t c = 0; c < count; ++c)
        out.span<double>()[(r * count + c) * L + l] = t.value((r * L + l) * C + first + c);
  return out;
}

// (rows, channels, len) -> (rows, len, count), channels [first, first + count).
Tensor time_first(const Tensor& t, std::int64_t first, std::int64_t count) {
  const auto R = t.dim(0), C = t.dim(1), L = t.dim(2);
  Tensor out(DType::float64, {R, L, count});
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t l = 0; l < L; ++l)
      for (std::int64_t c = 0; c < count; ++c)
        out.span<double>()[(r * L + l) * count + c] = t.value((r * C + first + c) * L + l);
  return out;
}

Tensor step_of(const Tensor& t, std::int64_t step) {  // (K, ...) -> (...)
  Shape shape(t.shape().begin() + 1, t.shape().end());
  Tensor out(DType::float64, shape);
  const auto n = out.numel();
  for (std::int64_t i = 0; i < n; ++i) out.span<double>()[i] = t.value(step * n + i);
  return out;
}

Tensor neg_exp(const Tensor& t) {
  Tensor out = detail::f64(t);
  for (auto& v : out.span<double>()) v = -std::exp(v);
  return out;
}

// Stacks per-step snapshots into (steps, ...).
Tensor stack(const std::vector<Tensor>& parts) {
  Shape shape = parts.front().shape();
  shape.insert(shape.begin(), static_cast<std::int64_t>(parts.size()));
  Tensor out(DType::float64, shape);
  std::size_t offset = 0;
  for (const auto& p : parts) {
    const Tensor part = p.to(DType::float64);  // keep it alive while its span is read
    auto src = part.span<double>();
    std::copy(src.begin(), src.end(), out.span<double>().begin() + offset);
    offset += src.size();
  }
  return out;
}

// What both replays share: the conv runs through the cache's window (the backend computes
// the new window, the cache keeps it), and the cache's states are recorded after the
// prefill and after every decode step.
class ReplayRecorder {
 public:
  ReplayRecorder(ConvSsmStateCache& cache, std::int64_t batch) : cache_(cache), slots_(batch) {
    std::iota(slots_.begin(), slots_.end(), 0);
  }

  // x: (batch, channels, len) from a fresh window; returns the conv's output.
  Tensor conv_prefill(Backend& backend, Tensor x, const Tensor& weight, const Tensor& bias) {
    CausalConv1dParams p{x.dim(0), x.dim(1), x.dim(2), weight.dim(1), true, DType::float64,
                         std::move(x), weight, bias, {}};
    auto r = backend.call(p);
    cache_.scatter_conv_windows(0, slots_, r.conv_state);
    return std::move(r.out);
  }
  // x: (batch, channels, 1) on top of the cached window; returns the conv's output.
  Tensor conv_step(Backend& backend, Tensor x, const Tensor& weight, const Tensor& bias) {
    const auto W = weight.dim(1);
    CausalConv1dUpdateParams p{x.dim(0), x.dim(1), 1, W, W, true, DType::float64,
                               std::move(x), cache_.gather_conv_windows(0, slots_), weight, bias};
    auto r = backend.call(p);
    cache_.scatter_conv_windows(0, slots_, r.conv_state);
    return std::move(r.out);
  }
  Tensor ssm_states() const { return cache_.gather_ssm_states(0, slots_); }
  void set_ssm_states(const Tensor& states) { cache_.scatter_ssm_states(0, slots_, states); }

  // Ends a prefill or decode step of `tokens` tokens and records the states after it.
  void finish_step(std::int64_t tokens) {
    cache_.advance_positions(slots_, tokens);
    conv_states_.push_back(cache_.gather_conv_windows(0, slots_));
    ssm_states_.push_back(cache_.gather_ssm_states(0, slots_));
  }
  NamedTensors outputs() const {
    return {{"conv_state", stack(conv_states_)}, {"ssm_state", stack(ssm_states_)}};
  }

 private:
  ConvSsmStateCache& cache_;
  std::vector<std::int64_t> slots_;
  std::vector<Tensor> conv_states_, ssm_states_;
};

class Mamba2ReplayCase : public OpCase {
 public:
  explicit Mamba2ReplayCase(const GoldenCase& g) {
    ShapeBinder s(g);
    H_ = g.integer("num_heads", 0), P_ = g.integer("head_dim", 0);
    G_ = g.integer("n_groups", 0), N_ = g.integer("state_size", 0);
    chunk_ = g.integer("chunk_size", 256);
    for (auto [name, v] : {std::pair{"num_heads", H_}, {"head_dim", P_}, {"n_groups", G_},
                           {"state_size", N_}, {"chunk_size", chunk_}}) {
      if (v <= 0) s.fail(std::string("attribute '") + name + "'", "expected a positive integer");
    }
    if (H_ % G_ != 0) s.fail("attribute 'n_groups'", "must divide num_heads");
    const auto limit = g.numbers("time_step_limit", {0.0, INFINITY});
    if (limit.size() != 2 || limit[0] != 0.0 || !std::isinf(limit[1])) {
      s.fail("attribute 'time_step_limit'", "only (0, inf) is supported for decode replay");
    }
    s.bind("H", H_, "A_log");
    s.bind("C", H_ * P_ + 2 * G_ * N_, "conv_weight");
    conv_weight_ = detail::f64(s.require("conv_weight", {"C", "W"}));
    conv_bias_ = detail::f64(s.optional("conv_bias", {"C"}));
    A_ = neg_exp(s.require("A_log", {"H"}));
    dt_bias_ = detail::f64(s.require("dt_bias", {"H"}));
    xbc_prefill_ = detail::f64(s.require("xBC_prefill", {"B", "L", "C"}));
    dt_prefill_ = detail::f64(s.require("dt_prefill", {"B", "L", "H"}));
    xbc_decode_ = detail::f64(s.require("xBC_decode", {"K", "B", "C"}));
    dt_decode_ = detail::f64(s.require("dt_decode", {"K", "B", "H"}));
    B_ = s.size("B"), L_ = s.size("L"), K_ = s.size("K"), W_ = s.size("W");
    summary_ = "B=" + std::to_string(B_) + " prefill=" + std::to_string(L_) +
               " decode=" + std::to_string(K_) + " H=" + std::to_string(H_) +
               " P=" + std::to_string(P_) + " N=" + std::to_string(N_) + " G=" +
               std::to_string(G_);
  }
  std::string shape_summary() const override { return summary_; }

  NamedTensors run(Backend& backend) const override {
    const auto I = H_ * P_, C = I + 2 * G_ * N_;
    Mamba2StateCache cache({1, B_, I, H_, P_, G_, N_, W_, DType::float64, DType::float64},
                           backend.storage_allocator());
    ReplayRecorder replay(cache, B_);

    const Tensor xbc = replay.conv_prefill(backend, channels_first(xbc_prefill_, 0, C),
                                           conv_weight_, conv_bias_);
    ChunkScanParams scan;
    scan.batch = B_, scan.seqlen = L_, scan.nheads = H_, scan.headdim = P_;
    scan.ngroups = G_, scan.dstate = N_, scan.chunk_size = chunk_, scan.dt_softplus = true;
    scan.x = time_first(xbc, 0, I).reshaped({B_, L_, H_, P_});
    scan.B = time_first(xbc, I, G_ * N_).reshaped({B_, L_, G_, N_});
    scan.C = time_first(xbc, I + G_ * N_, G_ * N_).reshaped({B_, L_, G_, N_});
    scan.dt = dt_prefill_;
    scan.A = A_;
    scan.dt_bias = dt_bias_;
    scan.initial_states = replay.ssm_states();
    replay.set_ssm_states(backend.call(scan).final_states);
    replay.finish_step(L_);

    for (std::int64_t k = 0; k < K_; ++k) {
      const Tensor stepped = replay.conv_step(
          backend, step_of(xbc_decode_, k).reshaped({B_, C, 1}), conv_weight_, conv_bias_);
      SelectiveStateUpdateParams su;
      su.batch = B_, su.nheads = H_, su.headdim = P_, su.dstate = N_, su.ngroups = G_;
      su.state_slots = B_, su.dt_softplus = true;
      su.state = replay.ssm_states();
      su.x = time_first(stepped, 0, I).reshaped({B_, H_, P_});
      su.B = time_first(stepped, I, G_ * N_).reshaped({B_, G_, N_});
      su.C = time_first(stepped, I + G_ * N_, G_ * N_).reshaped({B_, G_, N_});
      su.dt = detail::repeat_last(step_of(dt_decode_, k), P_);
      su.A = detail::repeat_last(detail::repeat_last(A_, P_), N_);
      su.dt_bias = detail::repeat_last(dt_bias_, P_);
      replay.set_ssm_states(backend.call(su).state);
      replay.finish_step(1);
    }
    return replay.outputs();
  }

 private:
  std::int64_t H_, P_, G_, N_, chunk_, B_ = 0, L_ = 0, K_ = 0, W_ = 0;
  Tensor conv_weight_, conv_bias_, A_, dt_bias_, xbc_prefill_, dt_prefill_, xbc_decode_,
      dt_decode_;
  std::string summary_;
};

class MambaReplayCase : public OpCase {
 public:
  explicit MambaReplayCase(const GoldenCase& g) {
    ShapeBinder s(g);
    conv_weight_ = detail::f64(s.require("conv_weight", {"I", "W"}));
    conv_bias_ = detail::f64(s.optional("conv_bias", {"I"}));
    A_ = neg_exp(s.require("A_log", {"I", "N"}));
    x_proj_ = detail::f64(s.require("x_proj_weight", {"R+2N", "I"}));
    dt_proj_ = detail::f64(s.require("dt_proj_weight", {"I", "R"}));
    dt_bias_ = detail::f64(s.require("dt_proj_bias", {"I"}));
    if (s.size("R+2N") != s.size("R") + 2 * s.size("N")) {
      s.fail("inputs/x_proj_weight", "expected dt_rank + 2 * state_size rows");
    }
    x_prefill_ = detail::f64(s.require("x_prefill", {"B", "L", "I"}));
    x_decode_ = detail::f64(s.require("x_decode", {"K", "B", "I"}));
    B_ = s.size("B"), L_ = s.size("L"), K_ = s.size("K"), W_ = s.size("W");
    I_ = s.size("I"), N_ = s.size("N"), R_ = s.size("R");
    summary_ = "B=" + std::to_string(B_) + " prefill=" + std::to_string(L_) +
               " decode=" + std::to_string(K_) + " I=" + std::to_string(I_) +
               " N=" + std::to_string(N_);
  }
  std::string shape_summary() const override { return summary_; }

  NamedTensors run(Backend& backend) const override {
    MambaStateCache cache({1, B_, I_, N_, W_, DType::float64, DType::float64},
                          backend.storage_allocator());
    ReplayRecorder replay(cache, B_);

    SelectiveScanParams scan;
    scan.batch = B_, scan.dim = I_, scan.seqlen = L_, scan.dstate = N_, scan.ngroups = 1;
    scan.delta_softplus = true;
    scan.u = replay.conv_prefill(backend, channels_first(x_prefill_, 0, I_), conv_weight_,
                                 conv_bias_);
    project(scan.u, L_, scan.delta, scan.B, scan.C);
    scan.A = A_;
    scan.delta_bias = dt_bias_;
    replay.set_ssm_states(backend.call(scan).last_state);
    replay.finish_step(L_);

    for (std::int64_t k = 0; k < K_; ++k) {
      const Tensor stepped = replay.conv_step(
          backend, step_of(x_decode_, k).reshaped({B_, I_, 1}), conv_weight_, conv_bias_);
      Tensor dt, Bm, Cm;
      project(stepped, 1, dt, Bm, Cm);
      SelectiveStateUpdateParams su;  // Mamba1 layout: one head of I channels
      su.batch = B_, su.nheads = 1, su.headdim = I_, su.dstate = N_, su.ngroups = 1;
      su.state_slots = B_, su.dt_softplus = true;
      su.state = replay.ssm_states().reshaped({B_, 1, I_, N_});
      su.x = stepped.reshaped({B_, 1, I_});
      su.dt = dt.reshaped({B_, 1, I_});
      su.A = A_.reshaped({1, I_, N_});
      su.B = Bm.reshaped({B_, 1, N_});
      su.C = Cm.reshaped({B_, 1, N_});
      su.dt_bias = dt_bias_.reshaped({1, I_});
      replay.set_ssm_states(backend.call(su).state.reshaped({B_, I_, N_}));
      replay.finish_step(1);
    }
    return replay.outputs();
  }

 private:
  // Mamba1's data-dependent parameters from the conv output h (B, I, len), in float64:
  // [dt_low_rank, B, C] = x_proj h; delta = dt_proj dt_low_rank (its bias is delta_bias).
  void project(const Tensor& h, std::int64_t len, Tensor& delta, Tensor& Bm, Tensor& Cm) const {
    delta = Tensor(DType::float64, {B_, I_, len});
    Bm = Tensor(DType::float64, {B_, 1, N_, len});
    Cm = Tensor(DType::float64, {B_, 1, N_, len});
    std::vector<double> proj(static_cast<std::size_t>(R_ + 2 * N_));
    for (std::int64_t b = 0; b < B_; ++b) {
      for (std::int64_t t = 0; t < len; ++t) {
        for (std::int64_t r = 0; r < R_ + 2 * N_; ++r) {
          double acc = 0.0;
          for (std::int64_t i = 0; i < I_; ++i) {
            acc += x_proj_.value(r * I_ + i) * h.value((b * I_ + i) * len + t);
          }
          proj[r] = acc;
        }
        for (std::int64_t i = 0; i < I_; ++i) {
          double acc = 0.0;
          for (std::int64_t r = 0; r < R_; ++r) acc += dt_proj_.value(i * R_ + r) * proj[r];
          delta.span<double>()[(b * I_ + i) * len + t] = acc;
        }
        for (std::int64_t n = 0; n < N_; ++n) {
          Bm.span<double>()[(b * N_ + n) * len + t] = proj[R_ + n];
          Cm.span<double>()[(b * N_ + n) * len + t] = proj[R_ + N_ + n];
        }
      }
    }
  }

  std::int64_t B_ = 0, L_ = 0, K_ = 0, W_ = 0, I_ = 0, N_ = 0, R_ = 0;
  Tensor conv_weight_, conv_bias_, A_, x_proj_, dt_proj_, dt_bias_, x_prefill_, x_decode_;
  std::string summary_;
};

}  // namespace

std::unique_ptr<OpCase> make_mamba2_cache_replay_case(const GoldenCase& g) {
  return std::make_unique<Mamba2ReplayCase>(g);
}
std::unique_ptr<OpCase> make_mamba_cache_replay_case(const GoldenCase& g) {
  return std::make_unique<MambaReplayCase>(g);
}
GoldenNames mamba2_cache_replay_names() {
  return {{"conv_weight", "conv_bias", "A_log", "dt_bias", "xBC_prefill", "dt_prefill",
           "xBC_decode", "dt_decode"},
          {"conv_state", "ssm_state"},
          {"num_heads", "head_dim", "n_groups", "state_size", "chunk_size", "time_step_limit"}};
}
GoldenNames mamba_cache_replay_names() {
  return {{"conv_weight", "conv_bias", "A_log", "x_proj_weight", "dt_proj_weight", "dt_proj_bias",
           "x_prefill", "x_decode"},
          {"conv_state", "ssm_state"},
          {}};
}

}  // namespace ssmkit
