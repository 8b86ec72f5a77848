#include "case_util.hpp"

namespace ssmkit {
namespace {

class CausalConv1dCase : public OpCase {
 public:
  explicit CausalConv1dCase(const GoldenCase& g) {
    ShapeBinder s(g);
    p_.x = detail::f64(s.require("x", {"B", "D", "L"}));
    p_.weight = detail::f64(s.require("weight", {"D", "W"}));
    p_.bias = detail::f64(s.optional("bias", {"D"}));
    if (s.size("W") < 2) s.fail("inputs/weight", "conv width W must be at least 2");
    s.bind("W-1", s.size("W") - 1, "weight");
    p_.initial_states = detail::f64(s.optional("initial_states", {"B", "D", "W-1"}));
    p_.batch = s.size("B");
    p_.dim = s.size("D");
    p_.seqlen = s.size("L");
    p_.width = s.size("W");
    p_.silu = detail::silu_activation(g);
    p_.input_dtype = g.input_dtype;
    summary_ = detail::dims_summary(s, {"B", "D", "L", "W"}) + (p_.silu ? " silu" : "") +
               (p_.initial_states.defined() ? " init" : "");
  }
  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    return OpDescriptor<decltype(p_)>::outputs(backend.call(p_));
  }

 private:
  CausalConv1dParams p_;
  std::string summary_;
};

class CausalConv1dUpdateCase : public OpCase {
 public:
  explicit CausalConv1dUpdateCase(const GoldenCase& g) {
    ShapeBinder s(g);
    const int layout = s.one_of("x", {{"B", "D"}, {"B", "D", "L"}}, true);
    single_token_ = layout == 0;
    s.require("conv_state", {"B", "D", "S"});
    p_.weight = detail::f64(s.require("weight", {"D", "W"}));
    p_.bias = detail::f64(s.optional("bias", {"D"}));
    if (s.size("W") < 2) s.fail("inputs/weight", "conv width W must be at least 2");
    if (s.size("S") < s.size("W") - 1) {
      s.fail("inputs/conv_state", "state length S=" + std::to_string(s.size("S")) +
                                      " must be at least W-1=" + std::to_string(s.size("W") - 1));
    }
    p_.batch = s.size("B");
    p_.dim = s.size("D");
    p_.seqlen = single_token_ ? 1 : s.size("L");
    p_.width = s.size("W");
    p_.state_len = s.size("S");
    p_.x = detail::f64(*g.input("x")).reshaped({p_.batch, p_.dim, p_.seqlen});
    p_.conv_state = detail::f64(*g.input("conv_state"));
    p_.silu = detail::silu_activation(g);
    p_.input_dtype = g.input_dtype;
    summary_ = detail::dims_summary(s, {"B", "D", "L", "W", "S"}) + (p_.silu ? " silu" : "");
  }
  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    auto r = backend.call(p_);
    Tensor out = single_token_ ? r.out.reshaped({p_.batch, p_.dim}) : r.out;
    return {{"out", out}, {"conv_state", r.conv_state}};
  }

 private:
  CausalConv1dUpdateParams p_;
  bool single_token_ = true;
  std::string summary_;
};

}  // namespace

template <>
std::unique_ptr<OpCase> OpDescriptor<CausalConv1dParams>::golden_case(const GoldenCase& g) {
  return std::make_unique<CausalConv1dCase>(g);
}
template <>
std::unique_ptr<OpCase> OpDescriptor<CausalConv1dUpdateParams>::golden_case(const GoldenCase& g) {
  return std::make_unique<CausalConv1dUpdateCase>(g);
}


// ---- causal_conv1d: what bench, the check and the tolerance know -------------------------

template <>
ToleranceClass OpDescriptor<CausalConv1dParams>::tolerance_class() {
  return ToleranceClass::pointwise;
}
template <>
NamedTensors OpDescriptor<CausalConv1dParams>::outputs(const CausalConv1dResult& r) {
  return {{"out", r.out}, {"final_states", r.final_states}, {"conv_state", r.conv_state}};
}
template <>
bench::Traffic OpDescriptor<CausalConv1dParams>::traffic(const CausalConv1dParams& p) {
  using namespace bench;
  const double a = act_bytes(p.input_dtype), B = p.batch, D = p.dim, L = p.seqlen, W = p.width;
  Traffic t;
  t.bytes = a * (B * D * L + n_or0(p.initial_states)) + 4.0 * (D * W + n_or0(p.bias)) +
            a * (B * D * L + B * D * (W - 1) + B * D * W);
  t.flops = B * D * L * (2 * W + (p.silu ? 4 : 0));
  t.formula =
      "bytes = a*(x + initial_states) + 4*(weight + bias) + a*(out + final_states(W-1) + "
      "conv_state(W)); flops = B*D*L*(2W + 4 silu)";
  return t;
}
template <>
CausalConv1dParams OpDescriptor<CausalConv1dParams>::random_call(const bench::BenchCase& c) {
  bench::RandomInputs gen(c.seed);
  CausalConv1dParams p;
  p.batch = c.dims.at("batch"), p.dim = c.dims.at("dim"), p.seqlen = c.dims.at("seqlen");
  p.width = c.dims.at("width");
  p.silu = true, p.input_dtype = c.dtype;
  p.x = gen({p.batch, p.dim, p.seqlen}, -1, 1, c.dtype);
  p.weight = gen({p.dim, p.width}, -0.5, 0.5, bench::kParamDtype);
  p.bias = gen({p.dim}, -0.1, 0.1, bench::kParamDtype);
  if (detail::case_option(c, "initial_states")) {
    p.initial_states = gen({p.batch, p.dim, p.width - 1}, -1, 1, c.dtype);
  }
  return p;
}

namespace {
// (channels, width) of each conv a model's mixers run: Mamba1's over d_inner, Mamba2's over
// x|B|C, Gated DeltaNet's over q|k|v (vLLM's conv1d of Qwen3-Next), KDA's three over q, k
// and v separately (Kimi-Linear's q_conv1d, k_conv1d, v_conv1d).
std::vector<std::pair<std::int64_t, std::int64_t>> conv_shapes(const bench::ShapePreset& preset) {
  std::vector<std::pair<std::int64_t, std::int64_t>> dims;
  if (preset.mamba1) dims.push_back({preset.mamba1->d_inner, preset.mamba1->d_conv});
  if (preset.mamba2) dims.push_back({preset.mamba2->conv_dim(), preset.mamba2->d_conv});
  if (const auto& d = preset.gated_delta_net) {
    dims.push_back({2 * d->nheads * d->key_dim + d->v_heads * d->value_dim, d->d_conv});
  }
  if (const auto& d = preset.kda) {
    dims.push_back({d->nheads * d->key_dim, d->d_conv});
    if (d->v_heads * d->value_dim != d->nheads * d->key_dim) dims.push_back({d->v_heads * d->value_dim, d->d_conv});
  }
  return dims;
}
}  // namespace

template <>
void OpDescriptor<CausalConv1dParams>::bench_cases(const bench::ShapePreset& preset,
                                                   const bench::SweepOptions& sweep, DType dtype,
                                                   bench::CaseList& cases) {
  using bench::CaseList;
  for (auto [D, W] : conv_shapes(preset)) {
    for (auto B : sweep.batches) {
      for (auto L : sweep.seqlens) {
        cases.add(name, {{"batch", B}, {"dim", D}, {"seqlen", L}, {"width", W}},
                  CaseList::term("B", B) + " " + CaseList::term("D", D) + " " +
                      CaseList::term("L", L) + " " + CaseList::term("W", W),
                  dtype, {}, false);
      }
    }
  }
}
template <>
CheckUnits OpDescriptor<CausalConv1dParams>::check_units(const CausalConv1dParams& p) {
  return {p.batch, p.dim, p.dim, "channels"};
}
template <>
CausalConv1dParams OpDescriptor<CausalConv1dParams>::slice(const CausalConv1dParams& call,
                                                           const bench::Slice& s) {
  const bench::Range b{s.batch_row, 1}, u{s.first, s.count};
  CausalConv1dParams p = call;
  p.x = bench::cut(p.x, {b, u}), p.weight = bench::cut(p.weight, {u}), p.bias = bench::cut(p.bias, {u});
  p.initial_states = bench::cut(p.initial_states, {b, u});
  p.batch = 1, p.dim = s.count;
  return p;
}
template <>
NamedTensors OpDescriptor<CausalConv1dParams>::slice_outputs(const CausalConv1dParams&,
                                                             const NamedTensors& outputs,
                                                             const bench::Slice& s) {
  return bench::cut_outputs(outputs, {{s.batch_row, 1}, {s.first, s.count}});
}

// ---- causal_conv1d_update ------------------------------------------------------------------

template <>
ToleranceClass OpDescriptor<CausalConv1dUpdateParams>::tolerance_class() {
  return ToleranceClass::pointwise;
}
template <>
NamedTensors OpDescriptor<CausalConv1dUpdateParams>::outputs(const CausalConv1dUpdateResult& r) {
  return {{"out", r.out}, {"conv_state", r.conv_state}};
}
template <>
bench::Traffic OpDescriptor<CausalConv1dUpdateParams>::traffic(const CausalConv1dUpdateParams& p) {
  using namespace bench;
  const double a = act_bytes(p.input_dtype), B = p.batch, D = p.dim, L = p.seqlen, W = p.width,
               S = p.state_len;
  Traffic t;
  t.bytes = a * (B * D * L + B * D * S) + 4.0 * (D * W + n_or0(p.bias)) + a * (B * D * L + B * D * S);
  t.flops = B * D * L * (2 * W + (p.silu ? 4 : 0));
  t.formula =
      "bytes = a*(x + conv_state) + 4*(weight + bias) + a*(out + conv_state); "
      "flops = B*D*L*(2W + 4 silu)";
  return t;
}
template <>
CausalConv1dUpdateParams OpDescriptor<CausalConv1dUpdateParams>::random_call(const bench::BenchCase& c) {
  bench::RandomInputs gen(c.seed);
  CausalConv1dUpdateParams p;
  p.batch = c.dims.at("batch"), p.dim = c.dims.at("dim"), p.seqlen = 1, p.width = c.dims.at("width");
  p.state_len = c.dims.at("state_len"), p.silu = true, p.input_dtype = c.dtype;
  p.x = gen({p.batch, p.dim, 1}, -1, 1, c.dtype);
  p.conv_state = gen({p.batch, p.dim, p.state_len}, -1, 1, c.dtype);
  p.weight = gen({p.dim, p.width}, -0.5, 0.5, bench::kParamDtype);
  p.bias = gen({p.dim}, -0.1, 0.1, bench::kParamDtype);
  return p;
}
template <>
void OpDescriptor<CausalConv1dUpdateParams>::bench_cases(const bench::ShapePreset& preset,
                                                         const bench::SweepOptions& sweep,
                                                         DType dtype, bench::CaseList& cases) {
  using bench::CaseList;
  for (auto [D, W] : conv_shapes(preset)) {
    for (auto B : sweep.decode_batches) {
      cases.add(name, {{"batch", B}, {"dim", D}, {"width", W}, {"state_len", W - 1}},
                CaseList::term("B", B) + " " + CaseList::term("D", D) + " " +
                    CaseList::term("W", W) + " " + CaseList::term("S", W - 1),
                dtype, {}, true);
    }
  }
}
template <>
CheckUnits OpDescriptor<CausalConv1dUpdateParams>::check_units(const CausalConv1dUpdateParams& p) {
  return {p.batch, p.dim, p.dim, "channels"};
}
template <>
CausalConv1dUpdateParams OpDescriptor<CausalConv1dUpdateParams>::slice(
    const CausalConv1dUpdateParams& call, const bench::Slice& s) {
  const bench::Range b{s.batch_row, 1}, u{s.first, s.count};
  CausalConv1dUpdateParams p = call;
  p.x = bench::cut(p.x, {b, u}), p.conv_state = bench::cut(p.conv_state, {b, u});
  p.weight = bench::cut(p.weight, {u}), p.bias = bench::cut(p.bias, {u});
  p.batch = 1, p.dim = s.count;
  return p;
}
template <>
NamedTensors OpDescriptor<CausalConv1dUpdateParams>::slice_outputs(const CausalConv1dUpdateParams&,
                                                                   const NamedTensors& outputs,
                                                                   const bench::Slice& s) {
  return bench::cut_outputs(outputs, {{s.batch_row, 1}, {s.first, s.count}});
}

// ---- golden names and calls ---------------------------------------------------------------

template <>
GoldenNames OpDescriptor<CausalConv1dParams>::golden_names() {
  return {{"x", "weight", "bias", "initial_states"}, {"out", "final_states", "conv_state"},
          {"activation"}};
}
template <>
GoldenCall OpDescriptor<CausalConv1dParams>::golden_call(const CausalConv1dParams& p) {
  GoldenCall call = detail::golden_call_in(p.input_dtype);
  detail::put_input(call, "x", p.x), detail::put_input(call, "weight", p.weight);
  detail::put_input(call, "bias", p.bias), detail::put_input(call, "initial_states", p.initial_states);
  call.attrs["activation"] = std::string(p.silu ? "silu" : "none");
  return call;
}
template <>
GoldenNames OpDescriptor<CausalConv1dUpdateParams>::golden_names() {
  return {{"x", "conv_state", "weight", "bias"}, {"out", "conv_state"}, {"activation"}};
}
template <>
GoldenCall OpDescriptor<CausalConv1dUpdateParams>::golden_call(const CausalConv1dUpdateParams& p) {
  GoldenCall call = detail::golden_call_in(p.input_dtype);
  detail::put_input(call, "x", p.x), detail::put_input(call, "conv_state", p.conv_state);
  detail::put_input(call, "weight", p.weight), detail::put_input(call, "bias", p.bias);
  call.attrs["activation"] = std::string(p.silu ? "silu" : "none");
  return call;
}

}  // namespace ssmkit
