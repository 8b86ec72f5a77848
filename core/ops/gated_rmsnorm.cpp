#include "case_util.hpp"

namespace ssmkit {
namespace {

class GatedRmsNormCase : public OpCase {
 public:
  explicit GatedRmsNormCase(const GoldenCase& g) {
    ShapeBinder s(g);
    const Tensor* x = g.input("x");
    if (x == nullptr) s.fail("inputs/x", "dataset is missing; expected shape (..., D)");
    if (x->rank() < 1) s.fail("inputs/x", "expected shape (..., D), got a scalar");
    s.bind("D", x->dim(-1), "x");
    if (x->numel() == 0) s.fail("inputs/x", "dataset is empty");
    p_.weight = detail::f64(s.require("weight", {"D"}));
    p_.bias = detail::f64(s.optional("bias", {"D"}));
    if (const Tensor* z = g.input("z"); z && z->shape() != x->shape()) {
      s.fail("inputs/z", "expected the shape of x " + shape_str(x->shape()) + ", got " +
                             shape_str(z->shape()));
    }
    x_shape_ = x->shape();
    p_.dim = s.size("D");
    p_.rows = x->numel() / p_.dim;
    p_.x = detail::f64(x).reshaped({p_.rows, p_.dim});
    if (g.input("z")) p_.z = detail::f64(g.input("z")).reshaped({p_.rows, p_.dim});
    p_.eps = g.number("eps", 1e-6);
    if (!(p_.eps >= 0.0)) s.fail("attribute 'eps'", "expected a number >= 0");
    p_.group_size = g.integer("group_size", p_.dim);
    if (p_.group_size <= 0 || p_.dim % p_.group_size != 0) {
      s.fail("attribute 'group_size'", "expected a positive divisor of D=" +
                                           std::to_string(p_.dim) + ", got " +
                                           std::to_string(p_.group_size));
    }
    p_.norm_before_gate = g.flag("norm_before_gate", true);
    p_.input_dtype = g.input_dtype;
    summary_ = "rows=" + std::to_string(p_.rows) + " D=" + std::to_string(p_.dim) +
               " group=" + std::to_string(p_.group_size) + (p_.z.defined() ? " z" : "") +
               (p_.z.defined() ? (p_.norm_before_gate ? " norm-then-gate" : " gate-then-norm")
                               : "");
  }
  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    return {{"out", backend.call(p_).out.reshaped(x_shape_)}};
  }

 private:
  GatedRmsNormParams p_;
  Shape x_shape_;
  std::string summary_;
};

}  // namespace

template <>
std::unique_ptr<OpCase> OpDescriptor<GatedRmsNormParams>::golden_case(const GoldenCase& g) {
  return std::make_unique<GatedRmsNormCase>(g);
}

// ---- gated_rmsnorm: what bench, the check and the tolerance know -------------------------

template <>
ToleranceClass OpDescriptor<GatedRmsNormParams>::tolerance_class() {
  return ToleranceClass::pointwise;
}
template <>
NamedTensors OpDescriptor<GatedRmsNormParams>::outputs(const GatedRmsNormResult& r) {
  return {{"out", r.out}};
}
template <>
bench::Traffic OpDescriptor<GatedRmsNormParams>::traffic(const GatedRmsNormParams& p) {
  using namespace bench;
  const double a = act_bytes(p.input_dtype), R = p.rows, D = p.dim;
  Traffic t;
  t.bytes = a * (R * D + n_or0(p.z)) + 4.0 * (D + n_or0(p.bias)) + a * R * D;
  t.flops = R * D * (p.z.defined() ? 9 : 5);
  t.formula = "bytes = a*(x + z) + 4*(weight + bias) + a*out; flops = rows*D*(5 + 4 gate)";
  return t;
}
template <>
GatedRmsNormParams OpDescriptor<GatedRmsNormParams>::random_call(const bench::BenchCase& c) {
  bench::RandomInputs gen(c.seed);
  GatedRmsNormParams p;
  p.rows = c.dims.at("rows"), p.dim = c.dims.at("dim"), p.group_size = c.dims.at("group_size");
  p.eps = 1e-5, p.norm_before_gate = false, p.input_dtype = c.dtype;
  p.x = gen({p.rows, p.dim}, -1, 1, c.dtype);
  p.z = gen({p.rows, p.dim}, -1, 1, c.dtype);
  p.weight = gen({p.dim}, 0.5, 1.5, bench::kParamDtype);
  return p;
}
template <>
void OpDescriptor<GatedRmsNormParams>::bench_cases(const bench::ShapePreset& preset,
                                                   const bench::SweepOptions& sweep, DType dtype,
                                                   bench::CaseList& cases) {
  using bench::CaseList;
  if (!preset.mamba2) return;  // Mamba2's norm before out_proj, over B x L rows
  const auto& m = *preset.mamba2;
  for (auto B : sweep.batches) {
    for (auto L : sweep.seqlens) {
      cases.add(name,
                {{"batch", B}, {"seqlen", L}, {"rows", B * L}, {"dim", m.d_inner()},
                 {"group_size", m.d_inner() / m.ngroups}},
                CaseList::term("rows", B * L) + " " + CaseList::term("D", m.d_inner()) + " " +
                    CaseList::term("group", m.d_inner() / m.ngroups),
                dtype, {}, false);
    }
  }
}
template <>
CheckUnits OpDescriptor<GatedRmsNormParams>::check_units(const GatedRmsNormParams& p) {
  return {1, p.rows, p.rows, "rows"};
}
template <>
GatedRmsNormParams OpDescriptor<GatedRmsNormParams>::slice(const GatedRmsNormParams& call,
                                                           const bench::Slice& s) {
  const bench::Range u{s.first, s.count};
  GatedRmsNormParams p = call;
  p.x = bench::cut(p.x, {u}), p.z = bench::cut(p.z, {u});
  p.rows = s.count;
  return p;
}
template <>
NamedTensors OpDescriptor<GatedRmsNormParams>::slice_outputs(const GatedRmsNormParams&,
                                                             const NamedTensors& outputs,
                                                             const bench::Slice& s) {
  return bench::cut_outputs(outputs, {{s.first, s.count}});
}

// ---- golden names and calls ---------------------------------------------------------------

template <>
GoldenNames OpDescriptor<GatedRmsNormParams>::golden_names() {
  return {{"x", "weight", "bias", "z"}, {"out"}, {"eps", "group_size", "norm_before_gate"}};
}
template <>
GoldenCall OpDescriptor<GatedRmsNormParams>::golden_call(const GatedRmsNormParams& p) {
  GoldenCall call = detail::golden_call_in(p.input_dtype);
  detail::put_input(call, "x", p.x), detail::put_input(call, "weight", p.weight);
  detail::put_input(call, "bias", p.bias), detail::put_input(call, "z", p.z);
  call.attrs["eps"] = detail::attr_number(p.eps);
  call.attrs["group_size"] = detail::attr_number(static_cast<double>(p.group_size));
  call.attrs["norm_before_gate"] = detail::attr_number(p.norm_before_gate);
  return call;
}

}  // namespace ssmkit
