// Synthetic layers for `drift`: the parameters an initialised layer has, and per-step
// activations with unit variance.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "drift_util.hpp"
#include "ssmkit/drift/drift.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"

namespace ssmkit {
namespace {

// Reproducible on every platform (std::normal_distribution is not): Box-Muller on a
// splitmix64 stream seeded by (seed, step, role).
class NormalStream {
 public:
  NormalStream(std::uint64_t seed, std::uint64_t step, std::uint64_t role)
      : uniform_(seed * 0x9e3779b97f4a7c15ull ^ (step * 0xd1b54a32d192ed03ull + role)) {}
  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform_.next();  // (0, 1]: log stays finite
    const double u2 = uniform_.next();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * M_PI * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * M_PI * u2);
  }
  double uniform() { return uniform_.next(); }

 private:
  UniformStream uniform_;
  double spare_ = 0;
  bool has_spare_ = false;
};

// Unit-variance normal values rounded to float32 (what a float32 kernel reads).
Tensor normal_tensor(Shape shape, NormalStream& rng) {
  Tensor t(DType::float64, std::move(shape));
  for (auto& v : t.span<double>()) v = drift::to_float32(rng.next());
  return t;
}

// mamba_ssm's dt initialisation (Mamba.dt_init in mamba_simple.py, Mamba2.__init__ in
// mamba2.py): dt log-uniform in [dt_min, dt_max], clamped below at dt_init_floor, and the
// bias set to softplus's inverse of it, dt + log(-expm1(-dt)), so that softplus(bias) = dt.
// Returns the float32 bias.
double draw_dt_bias(const SyntheticInputOptions& o, NormalStream& rng) {
  const double log_dt = std::log(o.dt_min) + rng.uniform() * (std::log(o.dt_max) - std::log(o.dt_min));
  const double dt = std::max(std::exp(log_dt), o.dt_init_floor);
  return drift::to_float32(dt + std::log(-std::expm1(-dt)));
}

// The `keep` entries of `decay` that decay slowest (largest first): errors live longest
// there, and they dominate a whole layer's error, so a subset keeps them.
std::vector<std::int64_t> slowest(const std::vector<double>& decay, std::int64_t keep) {
  std::vector<std::int64_t> order(decay.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return decay[a] > decay[b]; });
  order.resize(static_cast<std::size_t>(keep));
  return order;
}

std::int64_t subset(std::int64_t wanted, std::int64_t all, const char* flag, const std::string& what) {
  if (wanted == 0) return all;
  if (wanted < 0 || wanted > all) {
    throw InputError("", flag,
                     "1 to " + std::to_string(all) + " (the model's " + what + "), or 0 for all; got " +
                         std::to_string(wanted));
  }
  return wanted;
}

void check_options(const SyntheticInputOptions& o) {
  if (o.batch < 1 || o.batch > 4096) {
    throw InputError("", "--batch", "1 to 4096 sequences, got " + std::to_string(o.batch));
  }
  if (o.prefill < 0) throw InputError("", "--prefill", "0 or more tokens, got " + std::to_string(o.prefill));
  if (!(o.dt_min > 0 && o.dt_max >= o.dt_min && std::isfinite(o.dt_max))) {
    std::ostringstream got;
    got << "got --dt-min " << o.dt_min << ", --dt-max " << o.dt_max;
    throw InputError("", "--dt-min/--dt-max", "0 < dt_min <= dt_max, both finite; " + got.str());
  }
}

// Roles keep the streams of different tensors apart.
enum Role : std::uint64_t { kParams = 1, kX, kB, kC, kQ, kK, kV, kGate, kBeta };

DriftLayer mamba1_layer(const MambaLayerSpec& spec, const SyntheticInputOptions& o) {
  DriftLayer l;
  l.kind = LayerKind::mamba;
  const std::int64_t D = subset(o.channels, spec.intermediate_size, "--channels", "Mamba1 channels");
  const std::int64_t N = spec.d_state;
  l.batch = o.batch, l.nheads = 1, l.headdim = D, l.dstate = N, l.ngroups = 1;
  NormalStream params(o.seed, 0, kParams);
  // Every channel of the layer is drawn; the run keeps the D whose dt is smallest.
  std::vector<double> all_bias, all_decay;
  for (std::int64_t c = 0; c < spec.intermediate_size; ++c) {
    all_bias.push_back(draw_dt_bias(o, params));
    all_decay.push_back(std::exp(-drift::softplus(all_bias.back())));  // n = 0: A = -1
  }
  const std::vector<std::int64_t> kept = slowest(all_decay, D);
  // S4D-real initialisation (Mamba.A_log_init in mamba_simple.py): A_log = log(1..d_state)
  // for every channel, A = -exp(A_log) = -(n + 1).
  l.A = Tensor(DType::float64, {1, D, N});
  auto A = l.A.span<double>();
  for (std::int64_t i = 0; i < D * N; ++i) A[i] = -static_cast<double>(i % N + 1);
  l.dt_bias = Tensor(DType::float64, {1, D});
  for (std::int64_t i = 0; i < D; ++i) l.dt_bias.span<double>()[i] = all_bias[kept[i]];
  l.D = Tensor(DType::float64, {1, D});
  for (auto& v : l.D.span<double>()) v = 1.0;  // mamba_ssm's D init: ones
  l.slowest_decay = all_decay[kept[0]];
  const std::int64_t batch = o.batch, seed = static_cast<std::int64_t>(o.seed);
  l.inputs = [batch, D, N, seed](std::int64_t step, DriftStepInputs& in) {
    const auto s = static_cast<std::uint64_t>(step), sd = static_cast<std::uint64_t>(seed);
    NormalStream x(sd, s, kX), b(sd, s, kB), c(sd, s, kC);
    in.x = normal_tensor({batch, 1, D}, x);
    in.dt = Tensor(DType::float64, {batch, 1, D});  // softplus(0 + dt_bias) = the drawn dt
    in.B = normal_tensor({batch, 1, N}, b);
    in.C = normal_tensor({batch, 1, N}, c);
  };
  std::ostringstream d;
  d << "Mamba1, the " << D << " slowest-decaying of " << spec.intermediate_size
    << " channels drawn, d_state " << N
    << "; A = -(1..d_state) per channel; dt = softplus(dt_bias) in [" << o.dt_min << ", "
    << o.dt_max << "] log-uniform (floor " << o.dt_init_floor << "); D = 1; x, B, C ~ N(0, 1)";
  l.description = d.str();
  return l;
}

DriftLayer mamba2_layer(const Mamba2LayerSpec& spec, const SyntheticInputOptions& o) {
  DriftLayer l;
  l.kind = LayerKind::mamba2;
  const std::int64_t H = subset(o.heads, spec.num_heads, "--heads", "Mamba2 heads");
  const std::int64_t P = spec.head_dim, N = spec.d_state;
  // A subset of heads keeps one B/C group: groups only decide which heads share B and C.
  const std::int64_t G = H == spec.num_heads ? spec.n_groups : 1;
  l.batch = o.batch, l.nheads = H, l.headdim = P, l.dstate = N, l.ngroups = G;
  NormalStream params(o.seed, 0, kParams);
  // Every head of the layer is drawn; the run keeps the H that decay slowest.
  // Mamba2.__init__ (mamba2.py): A = uniform(A_init_range = (1, 16)) per head,
  // A_log = log(A), and the layer uses -exp(A_log).
  std::vector<double> all_a, all_bias, all_decay;
  for (std::int64_t h = 0; h < spec.num_heads; ++h) all_a.push_back(-drift::to_float32(1.0 + 15.0 * params.uniform()));
  for (std::int64_t h = 0; h < spec.num_heads; ++h) {
    all_bias.push_back(draw_dt_bias(o, params));
    all_decay.push_back(std::exp(drift::softplus(all_bias.back()) * all_a[h]));
  }
  const std::vector<std::int64_t> kept = slowest(all_decay, H);
  l.A = Tensor(DType::float64, {H});
  l.dt_bias = Tensor(DType::float64, {H});
  for (std::int64_t i = 0; i < H; ++i) {
    l.A.span<double>()[i] = all_a[kept[i]];
    l.dt_bias.span<double>()[i] = all_bias[kept[i]];
  }
  l.D = Tensor(DType::float64, {H});
  for (auto& v : l.D.span<double>()) v = 1.0;
  l.slowest_decay = all_decay[kept[0]];
  const std::int64_t batch = o.batch;
  const std::uint64_t seed = o.seed;
  l.inputs = [batch, H, P, N, G, seed](std::int64_t step, DriftStepInputs& in) {
    const auto s = static_cast<std::uint64_t>(step);
    NormalStream x(seed, s, kX), b(seed, s, kB), c(seed, s, kC);
    in.x = normal_tensor({batch, H, P}, x);
    in.dt = Tensor(DType::float64, {batch, H});
    in.B = normal_tensor({batch, G, N}, b);
    in.C = normal_tensor({batch, G, N}, c);
  };
  std::ostringstream d;
  d << "Mamba2, the " << H << " slowest-decaying of " << spec.num_heads << " heads drawn, head_dim "
    << P << ", d_state " << N
    << ", " << G << " group(s); A = -uniform(1, 16) per head; dt = softplus(dt_bias) in ["
    << o.dt_min << ", " << o.dt_max << "] log-uniform (floor " << o.dt_init_floor
    << "); D = 1; x, B, C ~ N(0, 1)";
  l.description = d.str();
  return l;
}

DriftLayer lightning_layer(const ModelSpec& model, const LinearAttentionLayerSpec& spec,
                           const SyntheticInputOptions& o) {
  DriftLayer l;
  l.kind = LayerKind::linear_attention;
  const std::int64_t H = subset(o.heads, spec.num_heads, "--heads", "lightning heads");
  const std::int64_t K = spec.key_dim, V = spec.value_dim;
  l.batch = o.batch, l.nheads = H, l.key_dim = K, l.value_dim = V;
  // The last lightning layer decays slowest: the worst case.
  std::size_t entry = 0;
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    if (model.layers[i] == LayerKind::linear_attention) entry = i;
  }
  const std::int64_t layer_idx = model.decoder_layer_of(entry);
  const std::int64_t layers = model.decoder_layers();
  // transformers' MiniMaxLightningAttention.get_slope_rate (modeling_minimax.py): head h
  // of H decays by exp(-rate) per token, rate = (2^(-8/H))^(h+1) * (1 - layer_idx /
  // (num_hidden_layers - 1 + 1e-5) + 1e-5). A subset keeps the slowest: the last heads.
  const double factor =
      1.0 - static_cast<double>(layer_idx) / (static_cast<double>(layers) - 1.0 + 1e-5) + 1e-5;
  l.slope = Tensor(DType::float64, {H});
  double smallest = INFINITY;
  for (std::int64_t i = 0; i < H; ++i) {
    const std::int64_t h = spec.num_heads - H + i;
    const double rate = std::pow(2.0, -8.0 * static_cast<double>(h + 1) /
                                           static_cast<double>(spec.num_heads)) * factor;
    l.slope.span<double>()[i] = drift::to_float32(rate);
    smallest = std::min(smallest, l.slope.span<double>()[i]);
  }
  l.slowest_decay = std::exp(-smallest);
  const std::int64_t batch = o.batch;
  const std::uint64_t seed = o.seed;
  l.inputs = [batch, H, K, V, seed](std::int64_t step, DriftStepInputs& in) {
    const auto s = static_cast<std::uint64_t>(step);
    NormalStream q(seed, s, kQ), k(seed, s, kK), v(seed, s, kV);
    in.q = normal_tensor({batch, H, 1, K}, q);
    in.k = normal_tensor({batch, H, 1, K}, k);
    in.v = normal_tensor({batch, H, 1, V}, v);
  };
  std::ostringstream d;
  d << "lightning attention, decoder layer " << layer_idx << " of " << layers
    << " (the last lightning layer: slowest decay), the " << H << " slowest-decaying of "
    << spec.num_heads << " heads, key/value dim " << K << "/" << V
    << "; slopes as MiniMax's get_slope_rate; q, k, v ~ N(0, 1)";
  l.description = d.str();
  return l;
}

// E[softplus(a + bias)] for a ~ N(0, 1): the trapezoid rule on [-12, 12] (the density
// beyond is below 1e-31), fine enough that the rule's error is far below float32's.
double mean_softplus_of_normal(double bias) {
  constexpr int kPoints = 4800;
  constexpr double kLo = -12.0, kStep = 24.0 / kPoints;
  double sum = 0;
  for (int i = 0; i <= kPoints; ++i) {
    const double a = kLo + kStep * i;
    const double weight = (i == 0 || i == kPoints) ? 0.5 : 1.0;
    sum += weight * drift::softplus(a + bias) * std::exp(-0.5 * a * a);
  }
  return sum * kStep / std::sqrt(2.0 * M_PI);
}

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Gated DeltaNet (Qwen3-Next) and KDA (Kimi-Linear) at initialisation. The state decays by
// exp(g) per step, g = -exp(A_log) * softplus(a + dt_bias) with `a` the layer's projection
// of the token, here N(0, 1):
//  - GDN: transformers' Qwen3NextGatedDeltaNet.__init__ and Qwen3NextPreTrainedModel.
//    _init_weights (modeling_qwen3_next.py): "A = torch.empty(self.num_v_heads).uniform_(0,
//    16)", "self.A_log = nn.Parameter(torch.log(A))", "init.ones_(module.dt_bias)"; one g per
//    value head.
//  - KDA: flash-linear-attention's KimiDeltaAttention.__init__ (fla/layers/kda.py):
//    "torch.log(torch.empty(self.num_heads, dtype=torch.float32).uniform_(1, 16))" and
//    "torch.zeros(self.key_dim, dtype=torch.float32)" for dt_bias; one g per key channel,
//    the gate of fla's kda_gate_ref (fla/ops/kda/gate.py).
// Both call the kernel with use_qk_l2norm_in_kernel=True; beta = sigmoid(b).
DriftLayer delta_rule_layer(LayerKind kind, const DeltaNetLayerSpec& spec, const SyntheticInputOptions& o) {
  const bool kda = kind == LayerKind::kda;
  DriftLayer l;
  l.kind = kind;
  const char* name = kda ? "KDA" : "Gated DeltaNet";
  const std::int64_t HV = subset(o.heads, spec.num_v_heads, "--heads", std::string(name) + " value heads");
  // A subset gives every value head its own q/k head: grouping only decides which value
  // heads share q and k.
  const std::int64_t H = HV == spec.num_v_heads ? spec.num_k_heads : HV;
  const std::int64_t K = spec.head_k_dim, V = spec.head_v_dim;
  l.batch = o.batch, l.nheads = H, l.v_heads = HV, l.key_dim = K, l.value_dim = V;
  l.scale = 1.0 / std::sqrt(static_cast<double>(K));  // fla's default scale, K^-0.5
  const double dt_bias = kda ? 0.0 : 1.0;
  const double mean_softplus = mean_softplus_of_normal(dt_bias);
  NormalStream params(o.seed, 0, kParams);
  std::vector<double> all_a, all_decay;  // exp(A_log) per value head, its mean decay
  for (std::int64_t h = 0; h < spec.num_v_heads; ++h) {
    // uniform() is [0, 1): 1 - uniform() keeps GDN's U(0, 16) draw off log(0).
    const double A = kda ? 1.0 + 15.0 * params.uniform() : 16.0 * (1.0 - params.uniform());
    all_a.push_back(std::exp(drift::to_float32(std::log(A))));  // A_log is a float32 parameter
    all_decay.push_back(std::exp(-all_a.back() * mean_softplus));
  }
  const std::vector<std::int64_t> kept = slowest(all_decay, HV);
  std::vector<double> a_kept;
  for (const std::int64_t h : kept) a_kept.push_back(all_a[h]);
  l.slowest_decay = all_decay[kept[0]];
  const std::int64_t batch = o.batch;
  const std::uint64_t seed = o.seed;
  l.inputs = [batch, H, HV, K, V, kda, dt_bias, a_kept, seed](std::int64_t step, DriftStepInputs& in) {
    const auto s = static_cast<std::uint64_t>(step);
    NormalStream q(seed, s, kQ), k(seed, s, kK), v(seed, s, kV), gate(seed, s, kGate), b(seed, s, kBeta);
    in.q = normal_tensor({batch, 1, H, K}, q);
    in.k = normal_tensor({batch, 1, H, K}, k);
    in.v = normal_tensor({batch, 1, HV, V}, v);
    in.g = kda ? Tensor(DType::float64, {batch, 1, HV, K}) : Tensor(DType::float64, {batch, 1, HV});
    const std::int64_t per_head = kda ? K : 1;
    auto g = in.g.span<double>();
    for (std::size_t i = 0; i < g.size(); ++i) {
      const double A = a_kept[(i / static_cast<std::size_t>(per_head)) % static_cast<std::size_t>(HV)];
      g[i] = drift::to_float32(-A * drift::softplus(drift::to_float32(gate.next()) + dt_bias));
    }
    in.beta = Tensor(DType::float64, {batch, 1, HV});
    for (auto& x : in.beta.span<double>()) x = drift::to_float32(sigmoid(drift::to_float32(b.next())));
  };
  std::ostringstream d;
  d << name << ", the " << HV << " slowest-decaying of " << spec.num_v_heads << " value heads drawn";
  if (H != HV) d << " (" << H << " q/k heads)";
  d << ", key/value dim " << K << "/" << V << "; A = exp(A_log) ~ "
    << (kda ? "U(1, 16) per head (fla's KimiDeltaAttention)" : "U(0, 16) per value head (transformers' Qwen3NextGatedDeltaNet)")
    << ", dt_bias " << (kda ? "0 per key channel" : "1 per head") << ", g = -A softplus(a + dt_bias) per "
    << (kda ? "key channel" : "head") << " with a ~ N(0, 1); beta = sigmoid(N(0, 1)); q, k, v ~ N(0, 1), "
    << "q and k L2-normalised in the kernel; scale K^-0.5; decay = exp(E[g])";
  l.description = d.str();
  return l;
}

}  // namespace

Shape DriftLayer::state_shape() const {
  if (kind == LayerKind::linear_attention) return {batch, nheads, key_dim, value_dim};
  if (kind == LayerKind::gated_delta_net || kind == LayerKind::kda) return {batch, v_heads, key_dim, value_dim};
  return {batch, nheads, headdim, dstate};
}

std::vector<LayerKind> drift_layer_kinds(const ModelSpec& model) {
  std::vector<LayerKind> kinds;
  for (const LayerKind k : model.layers) {
    // KV caches (attention, MLA's latent rows): nothing recurrent to drift.
    if (k == LayerKind::attention || k == LayerKind::mla) continue;
    if (std::find(kinds.begin(), kinds.end(), k) != kinds.end()) continue;
    switch (k) {
      case LayerKind::mamba:
      case LayerKind::mamba2:
      case LayerKind::linear_attention:
      case LayerKind::gated_delta_net:
      case LayerKind::kda:
        kinds.push_back(k);
        break;
      default:
        throw InputError(model.name, "",
                         "not supported yet: layer kind " + std::string(layer_kind_name(k)) +
                             " (drift runs mamba, mamba2, linear_attention, gated_delta_net and kda "
                             "layers)");
    }
  }
  if (kinds.empty()) {
    throw InputError(model.name, "",
                     "a model with a recurrent layer (mamba, mamba2, linear_attention, "
                     "gated_delta_net, kda); it has attention layers only, whose KV cache does "
                     "not drift");
  }
  return kinds;
}

DriftLayer synthetic_drift_layer(const ModelSpec& model, LayerKind kind,
                                 const SyntheticInputOptions& options) {
  check_options(options);
  DriftLayer l;
  switch (kind) {
    case LayerKind::mamba: l = mamba1_layer(*model.mamba, options); break;
    case LayerKind::mamba2: l = mamba2_layer(*model.mamba2, options); break;
    case LayerKind::linear_attention: l = lightning_layer(model, *model.linear_attention, options); break;
    case LayerKind::gated_delta_net: l = delta_rule_layer(kind, *model.gated_delta_net, options); break;
    case LayerKind::kda: l = delta_rule_layer(kind, *model.kda, options); break;
    default:
      throw InputError(model.name, "",
                       "not supported yet: layer kind " + std::string(layer_kind_name(kind)));
  }
  l.prefill_steps = options.prefill;
  return l;
}

}  // namespace ssmkit
