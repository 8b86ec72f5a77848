#include "case_util.hpp"

namespace ssmkit {
namespace {

class LightningAttentionCase : public OpCase {
 public:
  explicit LightningAttentionCase(const GoldenCase& g) {
    ShapeBinder s(g);
    p_.q = detail::f64(s.require("q", {"B", "H", "L", "K"}));
    p_.k = detail::f64(s.require("k", {"B", "H", "L", "K"}));
    p_.v = detail::f64(s.require("v", {"B", "H", "L", "V"}));
    // MiniMax keeps slope_rate as (H, 1, 1); both spellings name one decay per head.
    s.one_of("slope", {{"H"}, {"H", "1", "1"}}, true);
    if (s.bound("1") && s.size("1") != 1) s.fail("inputs/slope", "expected shape (H,) or (H, 1, 1)");
    p_.slope = detail::f64(g.input("slope")).reshaped({s.size("H")});
    p_.initial_state = detail::f64(s.optional("initial_state", {"B", "H", "K", "V"}));
    p_.batch = s.size("B");
    p_.nheads = s.size("H");
    p_.seqlen = s.size("L");
    p_.key_dim = s.size("K");
    p_.value_dim = s.size("V");
    p_.input_dtype = g.input_dtype;
    summary_ = detail::dims_summary(s, {"B", "H", "L", "K", "V"}) +
               (p_.initial_state.defined() ? " init" : "");
  }
  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    return OpDescriptor<decltype(p_)>::outputs(backend.call(p_));
  }

 private:
  LightningAttentionParams p_;
  std::string summary_;
};

}  // namespace

template <>
std::unique_ptr<OpCase> OpDescriptor<LightningAttentionParams>::golden_case(const GoldenCase& g) {
  return std::make_unique<LightningAttentionCase>(g);
}

// ---- lightning_attention: what bench, the check and the tolerance know -------------------

template <>
ToleranceClass OpDescriptor<LightningAttentionParams>::tolerance_class() {
  return ToleranceClass::accumulating;
}
template <>
NamedTensors OpDescriptor<LightningAttentionParams>::outputs(const LightningAttentionResult& r) {
  return {{"out", r.out}, {"final_state", r.final_state}};
}
template <>
bench::Traffic OpDescriptor<LightningAttentionParams>::traffic(const LightningAttentionParams& p) {
  using namespace bench;
  const double a = act_bytes(p.input_dtype), B = p.batch, H = p.nheads, L = p.seqlen,
               K = p.key_dim, V = p.value_dim;
  Traffic t;
  t.bytes = a * B * H * L * (2 * K + V) + 4.0 * (H + n_or0(p.initial_state)) +
            a * B * H * L * V + 4.0 * B * H * K * V;
  t.flops = B * H * L * K * V * 5;
  t.formula =
      "bytes = a*(q + k + v) + 4*(slope + initial_state) + a*out + 4*final_state; "
      "flops = B*H*L*K*V*5 (recurrent form: decay, k v^T fma, q.S fma)";
  return t;
}
template <>
LightningAttentionParams OpDescriptor<LightningAttentionParams>::random_call(const bench::BenchCase& c) {
  bench::RandomInputs gen(c.seed);
  const DType act = c.dtype;
  LightningAttentionParams p;
  p.batch = c.dims.at("batch"), p.nheads = c.dims.at("nheads"), p.seqlen = c.dims.at("seqlen");
  p.key_dim = c.dims.at("key_dim"), p.value_dim = c.dims.at("value_dim"), p.input_dtype = act;
  p.q = gen({p.batch, p.nheads, p.seqlen, p.key_dim}, -1, 1, act);
  p.k = gen({p.batch, p.nheads, p.seqlen, p.key_dim}, -1, 1, act);
  p.v = gen({p.batch, p.nheads, p.seqlen, p.value_dim}, -1, 1, act);
  p.slope = gen({p.nheads}, 0.05, 1.0, bench::kParamDtype);
  if (detail::case_option(c, "initial_states")) {
    p.initial_state = gen({p.batch, p.nheads, p.key_dim, p.value_dim}, -1, 1, act);
  }
  return p;
}
template <>
void OpDescriptor<LightningAttentionParams>::bench_cases(const bench::ShapePreset& preset,
                                                         const bench::SweepOptions& sweep,
                                                         DType dtype, bench::CaseList& cases) {
  using bench::CaseList;
  if (!preset.lightning) return;
  const auto& m = *preset.lightning;
  for (auto B : sweep.batches) {
    for (auto L : sweep.seqlens) {
      cases.add(name,
                {{"batch", B}, {"nheads", m.nheads}, {"seqlen", L}, {"key_dim", m.key_dim},
                 {"value_dim", m.value_dim}},
                CaseList::term("B", B) + " " + CaseList::term("H", m.nheads) + " " +
                    CaseList::term("L", L) + " " + CaseList::term("K", m.key_dim) + " " +
                    CaseList::term("V", m.value_dim),
                dtype, {}, false);
    }
  }
}
template <>
CheckUnits OpDescriptor<LightningAttentionParams>::check_units(const LightningAttentionParams& p) {
  return {p.batch, p.nheads, p.nheads, "heads"};
}
template <>
LightningAttentionParams OpDescriptor<LightningAttentionParams>::slice(
    const LightningAttentionParams& call, const bench::Slice& s) {
  using bench::cut;
  const bench::Range b{s.batch_row, 1}, u{s.first, s.count};
  LightningAttentionParams p = call;
  p.q = cut(p.q, {b, u}), p.k = cut(p.k, {b, u}), p.v = cut(p.v, {b, u});
  p.slope = cut(p.slope, {u}), p.initial_state = cut(p.initial_state, {b, u});
  p.batch = 1, p.nheads = s.count;
  return p;
}
template <>
NamedTensors OpDescriptor<LightningAttentionParams>::slice_outputs(const LightningAttentionParams&,
                                                                   const NamedTensors& outputs,
                                                                   const bench::Slice& s) {
  return bench::cut_outputs(outputs, {{s.batch_row, 1}, {s.first, s.count}});
}

// ---- golden names and calls ---------------------------------------------------------------

template <>
GoldenNames OpDescriptor<LightningAttentionParams>::golden_names() {
  return {{"q", "k", "v", "slope", "initial_state"}, {"out", "final_state"}, {}};
}
template <>
GoldenCall OpDescriptor<LightningAttentionParams>::golden_call(const LightningAttentionParams& p) {
  GoldenCall call = detail::golden_call_in(p.input_dtype);
  for (const auto& [name, t] : {std::pair{"q", &p.q}, {"k", &p.k}, {"v", &p.v}, {"slope", &p.slope},
                                {"initial_state", &p.initial_state}}) {
    detail::put_input(call, name, *t);
  }
  return call;
}

}  // namespace ssmkit
