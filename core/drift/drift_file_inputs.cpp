// `drift --inputs FILE.h5`: a recorded activation trace, one group per layer kind. The
// datasets are documented in docs/drift.md; anything else in the file is an error.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "drift_util.hpp"
#include "ssmkit/drift/drift.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/hdf5_file.hpp"
#include "ssmkit/model/model_spec.hpp"

namespace ssmkit {
namespace {

// Per step datasets have the step count as their leading axis.
struct DatasetSpec {
  const char* name;
  bool per_step;
  bool required;
};

const std::map<LayerKind, std::vector<DatasetSpec>>& dataset_specs() {
  static const std::map<LayerKind, std::vector<DatasetSpec>> specs = {
      {LayerKind::mamba,
       {{"x", true, true}, {"dt", true, true}, {"B", true, true}, {"C", true, true},
        {"A", false, true}, {"dt_bias", false, true}, {"D", false, true},
        {"initial_state", false, false}}},
      {LayerKind::mamba2,
       {{"x", true, true}, {"dt", true, true}, {"B", true, true}, {"C", true, true},
        {"A", false, true}, {"dt_bias", false, true}, {"D", false, true},
        {"initial_state", false, false}}},
      {LayerKind::linear_attention,
       {{"q", true, true}, {"k", true, true}, {"v", true, true}, {"slope", false, true},
        {"initial_state", false, false}}},
      {LayerKind::gated_delta_net,
       {{"q", true, true}, {"k", true, true}, {"v", true, true}, {"g", true, true},
        {"beta", true, true}, {"initial_state", false, false}}},
      {LayerKind::kda,
       {{"q", true, true}, {"k", true, true}, {"v", true, true}, {"g", true, true},
        {"beta", true, true}, {"initial_state", false, false}}},
  };
  return specs;
}

class TraceGroup {
 public:
  TraceGroup(const Hdf5Reader& file, LayerKind kind)
      : file_(file), group_(std::string(layer_kind_name(kind))) {
    const auto& specs = dataset_specs().at(kind);
    for (const std::string& member : file.members(group_)) {
      const auto known = std::find_if(specs.begin(), specs.end(),
                                      [&](const DatasetSpec& s) { return member == s.name; });
      if (known == specs.end()) {
        std::string names;
        for (const auto& s : specs) names += (names.empty() ? "" : ", ") + std::string(s.name);
        fail(member, "an unknown dataset; a " + group_ + " group holds " + names);
      }
    }
    for (const auto& s : specs) {
      if (!file.has_dataset(path(s.name))) {
        if (s.required) fail(s.name, "missing (a required dataset)");
        continue;
      }
      Tensor t = file.read_tensor(path(s.name));
      if (!is_floating(t.dtype())) fail(s.name, "floating-point values, got an integer dataset");
      for (auto& v : t.span<double>()) {
        if (!std::isfinite(v)) fail(s.name, "finite values; it holds NaN or infinity");
        v = drift::to_float32(v);  // what a float32 kernel reads, and so the reference too
      }
      tensors_[s.name] = std::move(t);
    }
  }

  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  const Tensor& get(const std::string& name) const { return tensors_.at(name); }

  // The dataset's shape must be `want` (-1: any size, returned through `sizes`).
  void expect_shape(const std::string& name, const Shape& want) const {
    const Shape& got = get(name).shape();
    bool ok = got.size() == want.size();
    for (std::size_t i = 0; ok && i < want.size(); ++i) ok = want[i] < 0 || got[i] == want[i];
    if (!ok || get(name).numel() == 0) {
      fail(name, "shape " + shape_str(want) + " (-1: any size), got " + shape_str(got));
    }
  }

  [[noreturn]] void fail(const std::string& name, const std::string& expected) const {
    throw InputError(file_.path().string(), path(name), expected);
  }

 private:
  std::string path(const std::string& name) const { return group_ + "/" + name; }
  const Hdf5Reader& file_;
  std::string group_;
  std::map<std::string, Tensor> tensors_;
};

// The step `t` slice of a per-step dataset, shaped `shape`.
Tensor step_slice(const Tensor& all, std::int64_t t, const Shape& shape) {
  Tensor out(DType::float64, shape);
  const std::int64_t n = out.numel();
  const auto src = all.span<double>().subspan(static_cast<std::size_t>(t * n), static_cast<std::size_t>(n));
  std::copy(src.begin(), src.end(), out.span<double>().begin());
  return out;
}

std::int64_t dim_of(const TraceGroup& g, const std::string& name, int axis) {
  return g.get(name).dim(axis);
}

DriftLayer ssm_layer(const TraceGroup& g, LayerKind kind, const ModelSpec& model) {
  DriftLayer l;
  l.kind = kind;
  const bool m2 = kind == LayerKind::mamba2;
  // Mamba2: x (T, batch, heads, headdim); Mamba1: x (T, batch, channels).
  g.expect_shape("x", m2 ? Shape{-1, -1, -1, -1} : Shape{-1, -1, -1});
  const std::int64_t T = dim_of(g, "x", 0), batch = dim_of(g, "x", 1);
  std::int64_t H, P, N, G;
  if (m2) {
    H = dim_of(g, "x", 2), P = dim_of(g, "x", 3);
    g.expect_shape("B", {T, batch, -1, -1});
    G = dim_of(g, "B", 2), N = dim_of(g, "B", 3);
    const Mamba2LayerSpec& s = *model.mamba2;
    if (P != s.head_dim) g.fail("x", "head_dim " + std::to_string(s.head_dim) + " (the model's) in axis 3, got " + std::to_string(P));
    if (H > s.num_heads) g.fail("x", "at most the model's " + std::to_string(s.num_heads) + " heads in axis 2, got " + std::to_string(H));
    if (N != s.d_state) g.fail("B", "d_state " + std::to_string(s.d_state) + " (the model's) in axis 3, got " + std::to_string(N));
    if (H % G != 0) g.fail("B", "a group count dividing the " + std::to_string(H) + " heads, got " + std::to_string(G));
    g.expect_shape("dt", {T, batch, H});
    g.expect_shape("C", {T, batch, G, N});
    for (const char* p : {"A", "dt_bias", "D"}) g.expect_shape(p, {H});
  } else {
    H = 1, P = dim_of(g, "x", 2), G = 1;
    g.expect_shape("B", {T, batch, -1});
    N = dim_of(g, "B", 2);
    const MambaLayerSpec& s = *model.mamba;
    if (P > s.intermediate_size) g.fail("x", "at most the model's " + std::to_string(s.intermediate_size) + " channels in axis 2, got " + std::to_string(P));
    if (N != s.d_state) g.fail("B", "d_state " + std::to_string(s.d_state) + " (the model's) in axis 2, got " + std::to_string(N));
    g.expect_shape("dt", {T, batch, P});
    g.expect_shape("C", {T, batch, N});
    g.expect_shape("A", {P, N});
    g.expect_shape("dt_bias", {P});
    g.expect_shape("D", {P});
  }
  for (const double a : g.get("A").span<double>()) {
    if (!(a < 0)) g.fail("A", "negative values (A = -exp(A_log)), got " + std::to_string(a));
  }
  l.batch = batch, l.nheads = H, l.headdim = P, l.dstate = N, l.ngroups = G;
  l.available_steps = T;
  const Shape param = m2 ? Shape{H} : Shape{1, P};
  l.A = g.get("A").reshaped(m2 ? Shape{H} : Shape{1, P, N});
  l.dt_bias = g.get("dt_bias").reshaped(param);
  l.D = g.get("D").reshaped(param);
  if (g.has("initial_state")) {
    g.expect_shape("initial_state", m2 ? Shape{batch, H, P, N} : Shape{batch, P, N});
    l.initial_state = g.get("initial_state").reshaped(l.state_shape());
  }
  // The slowest decay: the smallest dt (softplus is increasing) with the least negative A.
  double smallest_dt = INFINITY;
  const auto dt = g.get("dt").span<double>(), bias = g.get("dt_bias").span<double>();
  const std::int64_t per = m2 ? H : P;
  for (std::size_t i = 0; i < dt.size(); ++i) {
    smallest_dt = std::min(smallest_dt, drift::softplus(dt[i] + bias[i % static_cast<std::size_t>(per)]));
  }
  const auto A = g.get("A").span<double>();
  l.slowest_decay = std::exp(smallest_dt * *std::max_element(A.begin(), A.end()));
  auto x = std::make_shared<Tensor>(g.get("x")), dts = std::make_shared<Tensor>(g.get("dt"));
  auto B = std::make_shared<Tensor>(g.get("B")), C = std::make_shared<Tensor>(g.get("C"));
  const Shape xs{batch, H, P}, dts_shape = m2 ? Shape{batch, H} : Shape{batch, 1, P};
  const Shape bs{batch, G, N};
  l.inputs = [x, dts, B, C, xs, dts_shape, bs](std::int64_t t, DriftStepInputs& in) {
    in.x = step_slice(*x, t, xs);
    in.dt = step_slice(*dts, t, dts_shape);
    in.B = step_slice(*B, t, bs);
    in.C = step_slice(*C, t, bs);
  };
  std::ostringstream d;
  d << (m2 ? "Mamba2, " : "Mamba1, ") << (m2 ? std::to_string(H) + " heads of " + std::to_string(P) : std::to_string(P) + " channels")
    << ", d_state " << N << "; " << T << " recorded steps of batch " << batch;
  l.description = d.str();
  return l;
}

DriftLayer lightning_layer(const TraceGroup& g, const ModelSpec& model) {
  DriftLayer l;
  l.kind = LayerKind::linear_attention;
  g.expect_shape("q", {-1, -1, -1, -1});
  const std::int64_t T = dim_of(g, "q", 0), batch = dim_of(g, "q", 1);
  const std::int64_t H = dim_of(g, "q", 2), K = dim_of(g, "q", 3);
  g.expect_shape("k", {T, batch, H, K});
  g.expect_shape("v", {T, batch, H, -1});
  const std::int64_t V = dim_of(g, "v", 3);
  const LinearAttentionLayerSpec& s = *model.linear_attention;
  if (H > s.num_heads) g.fail("q", "at most the model's " + std::to_string(s.num_heads) + " heads in axis 2, got " + std::to_string(H));
  if (K != s.key_dim) g.fail("q", "key_dim " + std::to_string(s.key_dim) + " (the model's) in axis 3, got " + std::to_string(K));
  if (V != s.value_dim) g.fail("v", "value_dim " + std::to_string(s.value_dim) + " (the model's) in axis 3, got " + std::to_string(V));
  g.expect_shape("slope", {H});
  for (const double v : g.get("slope").span<double>()) {
    if (!(v > 0)) g.fail("slope", "positive decay rates, got " + std::to_string(v));
  }
  l.batch = batch, l.nheads = H, l.key_dim = K, l.value_dim = V;
  l.available_steps = T;
  l.slope = g.get("slope");
  const auto slopes = l.slope.span<double>();
  l.slowest_decay = std::exp(-*std::min_element(slopes.begin(), slopes.end()));
  if (g.has("initial_state")) {
    g.expect_shape("initial_state", {batch, H, K, V});
    l.initial_state = g.get("initial_state");
  }
  auto q = std::make_shared<Tensor>(g.get("q")), k = std::make_shared<Tensor>(g.get("k"));
  auto v = std::make_shared<Tensor>(g.get("v"));
  const Shape qs{batch, H, 1, K}, vs{batch, H, 1, V};
  l.inputs = [q, k, v, qs, vs](std::int64_t t, DriftStepInputs& in) {
    in.q = step_slice(*q, t, qs);
    in.k = step_slice(*k, t, qs);
    in.v = step_slice(*v, t, vs);
  };
  l.description = "lightning attention, " + std::to_string(H) + " heads, key/value dim " +
                  std::to_string(K) + "/" + std::to_string(V) + "; " + std::to_string(T) +
                  " recorded steps of batch " + std::to_string(batch);
  return l;
}

// Gated DeltaNet and KDA: q and k before the kernel's L2 normalisation, g the log decay
// after the gate (-exp(A_log) * softplus(a + dt_bias)), beta after its sigmoid.
DriftLayer delta_rule_layer(const TraceGroup& g, LayerKind kind, const ModelSpec& model) {
  const bool kda = kind == LayerKind::kda;
  const DeltaNetLayerSpec& s = kda ? *model.kda : *model.gated_delta_net;
  DriftLayer l;
  l.kind = kind;
  g.expect_shape("q", {-1, -1, -1, -1});
  const std::int64_t T = dim_of(g, "q", 0), batch = dim_of(g, "q", 1);
  const std::int64_t H = dim_of(g, "q", 2), K = dim_of(g, "q", 3);
  g.expect_shape("k", {T, batch, H, K});
  g.expect_shape("v", {T, batch, -1, -1});
  const std::int64_t HV = dim_of(g, "v", 2), V = dim_of(g, "v", 3);
  if (K != s.head_k_dim) g.fail("q", "head_k_dim " + std::to_string(s.head_k_dim) + " (the model's) in axis 3, got " + std::to_string(K));
  if (V != s.head_v_dim) g.fail("v", "head_v_dim " + std::to_string(s.head_v_dim) + " (the model's) in axis 3, got " + std::to_string(V));
  if (HV > s.num_v_heads) g.fail("v", "at most the model's " + std::to_string(s.num_v_heads) + " value heads in axis 2, got " + std::to_string(HV));
  if (HV % H != 0) g.fail("q", "a q/k head count dividing the " + std::to_string(HV) + " value heads in axis 2, got " + std::to_string(H));
  g.expect_shape("g", kda ? Shape{T, batch, HV, K} : Shape{T, batch, HV});
  g.expect_shape("beta", {T, batch, HV});
  const auto gs = g.get("g").span<double>();
  for (const double v : gs) {
    if (!(v <= 0)) g.fail("g", "log decays <= 0 (g = -exp(A_log) * softplus(...)), got " + std::to_string(v));
  }
  l.batch = batch, l.nheads = H, l.v_heads = HV, l.key_dim = K, l.value_dim = V;
  l.scale = 1.0 / std::sqrt(static_cast<double>(K));
  l.available_steps = T;
  l.slowest_decay = std::exp(*std::max_element(gs.begin(), gs.end()));
  if (g.has("initial_state")) {
    g.expect_shape("initial_state", {batch, HV, K, V});
    l.initial_state = g.get("initial_state");
  }
  auto q = std::make_shared<Tensor>(g.get("q")), k = std::make_shared<Tensor>(g.get("k"));
  auto v = std::make_shared<Tensor>(g.get("v")), gate = std::make_shared<Tensor>(g.get("g"));
  auto beta = std::make_shared<Tensor>(g.get("beta"));
  const Shape qs{batch, 1, H, K}, vs{batch, 1, HV, V}, bs{batch, 1, HV};
  const Shape gs_shape = kda ? Shape{batch, 1, HV, K} : bs;
  l.inputs = [q, k, v, gate, beta, qs, vs, bs, gs_shape](std::int64_t t, DriftStepInputs& in) {
    in.q = step_slice(*q, t, qs);
    in.k = step_slice(*k, t, qs);
    in.v = step_slice(*v, t, vs);
    in.g = step_slice(*gate, t, gs_shape);
    in.beta = step_slice(*beta, t, bs);
  };
  l.description = std::string(kda ? "KDA, " : "Gated DeltaNet, ") + std::to_string(HV) + " value heads (" +
                  std::to_string(H) + " q/k heads), key/value dim " + std::to_string(K) + "/" +
                  std::to_string(V) + ", q and k L2-normalised in the kernel, scale K^-0.5; " +
                  std::to_string(T) + " recorded steps of batch " + std::to_string(batch);
  return l;
}

}  // namespace

std::vector<DriftLayer> drift_layers_from_file(const std::filesystem::path& path,
                                               const ModelSpec& model) {
  const Hdf5Reader file(path);
  const std::vector<LayerKind> kinds = drift_layer_kinds(model);
  std::vector<DriftLayer> layers;
  for (const std::string& member : file.members("/")) {
    const auto kind = parse_layer_kind(member);
    const bool known = kind && dataset_specs().count(*kind) > 0;
    if (!known || std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) {
      std::string names;
      for (const LayerKind k : kinds) names += (names.empty() ? "" : ", ") + std::string(layer_kind_name(k));
      throw InputError(path.string(), member,
                       "an unknown group; this model's trace holds groups named for its recurrent "
                       "layer kinds: " + names);
    }
    const TraceGroup g(file, *kind);
    if (*kind == LayerKind::linear_attention) {
      layers.push_back(lightning_layer(g, model));
    } else if (*kind == LayerKind::gated_delta_net || *kind == LayerKind::kda) {
      layers.push_back(delta_rule_layer(g, *kind, model));
    } else {
      layers.push_back(ssm_layer(g, *kind, model));
    }
  }
  if (layers.empty()) {
    throw InputError(path.string(), "/", "a group per layer kind to run (mamba, mamba2, linear_attention, gated_delta_net or kda)");
  }
  return layers;
}

}  // namespace ssmkit
