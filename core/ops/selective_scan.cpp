#include "case_util.hpp"

namespace ssmkit {
namespace {

class SelectiveScanCase : public OpCase {
 public:
  explicit SelectiveScanCase(const GoldenCase& g) {
    ShapeBinder s(g);
    p_.u = detail::f64(s.require("u", {"B", "D", "L"}));
    p_.delta = detail::f64(s.require("delta", {"B", "D", "L"}));
    p_.A = detail::f64(s.require("A", {"D", "N"}));
    const std::vector<ShapeBinder::Layout> bc = {{"B", "N", "L"}, {"B", "G", "N", "L"}};
    const int b_layout = s.one_of("B", bc, true);
    const int c_layout = s.one_of("C", bc, true);
    if (!s.bound("G")) s.bind("G", 1, "B");
    if (b_layout != c_layout && s.size("G") != 1) {
      s.fail("inputs/C", "B and C must both be grouped (B, G, N, L) when G > 1");
    }
    s.require_divisible("D", "G");
    p_.D = detail::f64(s.optional("D", {"D"}));
    p_.z = detail::f64(s.optional("z", {"B", "D", "L"}));
    p_.delta_bias = detail::f64(s.optional("delta_bias", {"D"}));
    p_.batch = s.size("B");
    p_.dim = s.size("D");
    p_.seqlen = s.size("L");
    p_.dstate = s.size("N");
    p_.ngroups = s.size("G");
    const Shape grouped = {p_.batch, p_.ngroups, p_.dstate, p_.seqlen};
    p_.B = detail::f64(*g.input("B")).reshaped(grouped);
    p_.C = detail::f64(*g.input("C")).reshaped(grouped);
    p_.delta_softplus = g.flag("delta_softplus", false);
    p_.input_dtype = g.input_dtype;
    summary_ = detail::dims_summary(s, {"B", "D", "L", "N", "G"}) +
               (p_.D.defined() ? "" : " noD") + (p_.z.defined() ? " z" : "");
  }
  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    return OpDescriptor<decltype(p_)>::outputs(backend.call(p_));
  }

 private:
  SelectiveScanParams p_;
  std::string summary_;
};

// Maps mamba_ssm's two selective_state_update layouts onto SelectiveStateUpdateParams.
class SelectiveStateUpdateCase : public OpCase {
 public:
  explicit SelectiveStateUpdateCase(const GoldenCase& g) {
    ShapeBinder s(g);
    const int layout = s.one_of("state", {{"S", "D", "N"}, {"S", "H", "P", "N"}}, true);
    multihead_ = layout == 1;
    if (const Tensor* idx = g.input("state_batch_indices")) {
      s.require_integer("state_batch_indices");
      s.require("state_batch_indices", {"B"});
      p_.state_batch_indices = detail::to_indices(*idx);
      p_.pad_slot_id = g.integer("pad_slot_id", -1);
    }
    if (multihead_) {
      s.require("x", {"B", "H", "P"});
      per_head_dt_ = s.one_of("dt", {{"B", "H", "P"}, {"B", "H"}}, true) == 1;
      const bool per_head_a = s.one_of("A", {{"H", "P", "N"}, {"H"}}, true) == 1;
      s.require("B", {"B", "G", "N"});
      s.require("C", {"B", "G", "N"});
      s.require_divisible("H", "G");
      const bool per_head_d = s.one_of("D", {{"H", "P"}, {"H"}}, false) == 1;
      const bool per_head_bias = s.one_of("dt_bias", {{"H", "P"}, {"H"}}, false) == 1;
      s.optional("z", {"B", "H", "P"});
      p_.nheads = s.size("H");
      p_.headdim = s.size("P");
      p_.ngroups = s.size("G");
      const auto P = p_.headdim, N = s.size("N");
      p_.dt = per_head_dt_ ? detail::repeat_last(*g.input("dt"), P) : detail::f64(g.input("dt"));
      p_.A = per_head_a ? detail::repeat_last(detail::repeat_last(*g.input("A"), P), N)
                        : detail::f64(g.input("A"));
      p_.D = per_head_d ? detail::repeat_last(*g.input("D"), P) : detail::f64(g.input("D"));
      p_.dt_bias = per_head_bias ? detail::repeat_last(*g.input("dt_bias"), P)
                                 : detail::f64(g.input("dt_bias"));
      summary_ = detail::dims_summary(s, {"B", "H", "P", "N", "G"});
    } else {
      s.require("x", {"B", "D"});
      s.require("dt", {"B", "D"});
      s.require("A", {"D", "N"});
      s.require("B", {"B", "N"});
      s.require("C", {"B", "N"});
      s.optional("D", {"D"});
      s.optional("z", {"B", "D"});
      s.optional("dt_bias", {"D"});
      p_.nheads = 1;
      p_.headdim = s.size("D");
      p_.ngroups = 1;
      p_.dt = detail::f64(g.input("dt"));
      p_.A = detail::f64(g.input("A"));
      p_.D = detail::f64(g.input("D"));
      p_.dt_bias = detail::f64(g.input("dt_bias"));
      summary_ = detail::dims_summary(s, {"B", "D", "N"});
    }
    p_.batch = s.size("B");
    p_.dstate = s.size("N");
    p_.state_slots = s.size("S");
    if (p_.state_batch_indices.empty()) {
      if (p_.state_slots != p_.batch) {  // without indices, row b owns slot b
        s.fail("inputs/state", "has " + std::to_string(p_.state_slots) +
                                   " slots but x has batch " + std::to_string(p_.batch) +
                                   "; give state_batch_indices to map rows to slots");
      }
    } else {
      detail::check_slots(s, "state_batch_indices", p_.state_batch_indices, p_.state_slots,
                          p_.pad_slot_id);
      summary_ += " slots=" + std::to_string(p_.state_slots);
    }
    const Shape x_shape = {p_.batch, p_.nheads, p_.headdim};
    const Shape bc_shape = {p_.batch, p_.ngroups, p_.dstate};
    state_shape_ = g.input("state")->shape();
    out_shape_ = g.input("x")->shape();
    p_.state = detail::f64(g.input("state"))
                   .reshaped({p_.state_slots, p_.nheads, p_.headdim, p_.dstate});
    p_.x = detail::f64(g.input("x")).reshaped(x_shape);
    p_.dt = p_.dt.reshaped(x_shape);
    p_.A = p_.A.reshaped({p_.nheads, p_.headdim, p_.dstate});
    if (p_.D.defined()) p_.D = p_.D.reshaped({p_.nheads, p_.headdim});
    if (p_.dt_bias.defined()) p_.dt_bias = p_.dt_bias.reshaped({p_.nheads, p_.headdim});
    if (const Tensor* z = g.input("z")) p_.z = detail::f64(z).reshaped(x_shape);
    p_.B = detail::f64(g.input("B")).reshaped(bc_shape);
    p_.C = detail::f64(g.input("C")).reshaped(bc_shape);
    p_.dt_softplus = g.flag("dt_softplus", false);
    p_.input_dtype = g.input_dtype;
    summary_ += std::string(p_.D.defined() ? "" : " noD") + (p_.z.defined() ? " z" : "");
  }
  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    auto r = backend.call(p_);
    return {{"out", r.out.reshaped(out_shape_)}, {"state", r.state.reshaped(state_shape_)}};
  }

 private:
  SelectiveStateUpdateParams p_;
  bool multihead_ = false, per_head_dt_ = false;
  Shape state_shape_, out_shape_;
  std::string summary_;
};

}  // namespace

template <>
std::unique_ptr<OpCase> OpDescriptor<SelectiveScanParams>::golden_case(const GoldenCase& g) {
  return std::make_unique<SelectiveScanCase>(g);
}
template <>
std::unique_ptr<OpCase> OpDescriptor<SelectiveStateUpdateParams>::golden_case(const GoldenCase& g) {
  return std::make_unique<SelectiveStateUpdateCase>(g);
}

// ---- selective_scan: what bench, the check and the tolerance know ------------------------

template <>
ToleranceClass OpDescriptor<SelectiveScanParams>::tolerance_class() {
  return ToleranceClass::accumulating;
}
template <>
NamedTensors OpDescriptor<SelectiveScanParams>::outputs(const SelectiveScanResult& r) {
  return {{"out", r.out}, {"last_state", r.last_state}};
}
template <>
bench::Traffic OpDescriptor<SelectiveScanParams>::traffic(const SelectiveScanParams& p) {
  using namespace bench;
  const double a = act_bytes(p.input_dtype), B = p.batch, D = p.dim, L = p.seqlen, N = p.dstate,
               G = p.ngroups;
  Traffic t;
  t.bytes = a * (2 * B * D * L + n_or0(p.z) + 2 * B * G * N * L) +
            4.0 * (D * N + n_or0(p.D) + n_or0(p.delta_bias)) + a * B * D * L + 4.0 * B * D * N;
  t.flops = B * D * L * (7 * N + 12);
  t.formula =
      "bytes = a*(u + delta + z + B + C) + 4*(A + D + delta_bias) + a*out + 4*last_state; "
      "flops = B*D*L*(7N [dt*A, exp, dt*u*B, h fma, C*h fma] + 12 [bias, softplus, D, "
      "silu gate])";
  return t;
}
template <>
SelectiveScanParams OpDescriptor<SelectiveScanParams>::random_call(const bench::BenchCase& c) {
  bench::RandomInputs gen(c.seed);
  const DType act = c.dtype, param = bench::kParamDtype;
  SelectiveScanParams p;
  p.batch = c.dims.at("batch"), p.dim = c.dims.at("dim"), p.seqlen = c.dims.at("seqlen");
  p.dstate = c.dims.at("dstate"), p.ngroups = c.dims.at("ngroups"), p.delta_softplus = true;
  p.input_dtype = act;
  const Shape bdl = {p.batch, p.dim, p.seqlen}, bc = {p.batch, p.ngroups, p.dstate, p.seqlen};
  p.u = gen(bdl, -1, 1, act);
  p.delta = gen(bdl, -4, -1, act);
  p.A = gen({p.dim, p.dstate}, -2, -0.1, param);
  p.B = gen(bc, -1, 1, act);
  p.C = gen(bc, -1, 1, act);
  p.D = gen({p.dim}, -1, 1, param);
  p.z = gen(bdl, -1, 1, act);
  p.delta_bias = gen({p.dim}, 0, 0.5, param);
  return p;
}
template <>
void OpDescriptor<SelectiveScanParams>::bench_cases(const bench::ShapePreset& preset,
                                                    const bench::SweepOptions& sweep, DType dtype,
                                                    bench::CaseList& cases) {
  using bench::CaseList;
  if (!preset.mamba1) return;
  const auto& m = *preset.mamba1;
  for (auto B : sweep.batches) {
    for (auto L : sweep.seqlens) {
      cases.add(name,
                {{"batch", B}, {"dim", m.d_inner}, {"seqlen", L}, {"dstate", m.d_state}, {"ngroups", 1}},
                CaseList::term("B", B) + " " + CaseList::term("D", m.d_inner) + " " +
                    CaseList::term("L", L) + " " + CaseList::term("N", m.d_state),
                dtype, {}, false);
    }
  }
}
template <>
CheckUnits OpDescriptor<SelectiveScanParams>::check_units(const SelectiveScanParams& p) {
  return {p.batch, p.dim, p.dim / p.ngroups, "channels"};
}
template <>
SelectiveScanParams OpDescriptor<SelectiveScanParams>::slice(const SelectiveScanParams& call,
                                                             const bench::Slice& s) {
  const bench::Range b{s.batch_row, 1}, u{s.first, s.count}, g{call.ngroups - 1, 1};
  SelectiveScanParams p = call;
  p.u = bench::cut(p.u, {b, u}), p.delta = bench::cut(p.delta, {b, u}), p.z = bench::cut(p.z, {b, u});
  p.A = bench::cut(p.A, {u}), p.D = bench::cut(p.D, {u}), p.delta_bias = bench::cut(p.delta_bias, {u});
  p.B = bench::cut(p.B, {b, g}), p.C = bench::cut(p.C, {b, g});
  p.batch = 1, p.dim = s.count, p.ngroups = 1;
  return p;
}
template <>
NamedTensors OpDescriptor<SelectiveScanParams>::slice_outputs(const SelectiveScanParams&,
                                                              const NamedTensors& outputs,
                                                              const bench::Slice& s) {
  return bench::cut_outputs(outputs, {{s.batch_row, 1}, {s.first, s.count}});
}

// ---- selective_state_update ----------------------------------------------------------------

template <>
ToleranceClass OpDescriptor<SelectiveStateUpdateParams>::tolerance_class() {
  return ToleranceClass::pointwise;
}
template <>
NamedTensors OpDescriptor<SelectiveStateUpdateParams>::outputs(const SelectiveStateUpdateResult& r) {
  return {{"out", r.out}, {"state", r.state}};
}
template <>
bench::Traffic OpDescriptor<SelectiveStateUpdateParams>::traffic(const SelectiveStateUpdateParams& p) {
  using namespace bench;
  const double a = act_bytes(p.input_dtype), s = static_cast<double>(dtype_size(p.state_dtype));
  const double B = p.batch, H = p.nheads, P = p.headdim, N = p.dstate, G = p.ngroups;
  const bool a_per_head = p.A.rank() == 1;
  Traffic t;
  t.bytes = 2 * s * B * H * P * N + a * (B * H * P + n_or0(p.dt) + 2 * B * G * N + n_or0(p.z)) +
            4.0 * (n_or0(p.A) + n_or0(p.D) + n_or0(p.dt_bias)) + a * B * H * P;
  t.flops = B * H * P * (N * (a_per_head ? 4 : 6) + 12);
  t.formula =
      "bytes = 2*s*state(B,H,P,N) [read+write] + a*(x + dt + B + C + z) + 4*(A + D + "
      "dt_bias) + a*out; flops = B*H*P*(N*(4, +2 with per-element A exp) + 12)";
  return t;
}
template <>
SelectiveStateUpdateParams OpDescriptor<SelectiveStateUpdateParams>::random_call(
    const bench::BenchCase& c) {
  bench::RandomInputs gen(c.seed);
  const DType act = c.dtype, param = bench::kParamDtype;
  SelectiveStateUpdateParams p;
  p.batch = c.dims.at("batch"), p.nheads = c.dims.at("nheads"), p.headdim = c.dims.at("headdim");
  p.dstate = c.dims.at("dstate"), p.ngroups = c.dims.at("ngroups"), p.state_slots = p.batch;
  p.dt_softplus = true, p.input_dtype = act, p.state_dtype = c.state_dtype.value_or(param);
  const Shape bhp = {p.batch, p.nheads, p.headdim};
  p.state = gen({p.batch, p.nheads, p.headdim, p.dstate}, -1, 1, p.state_dtype);
  p.x = gen(bhp, -1, 1, act);
  p.B = gen({p.batch, p.ngroups, p.dstate}, -1, 1, act);
  p.C = gen({p.batch, p.ngroups, p.dstate}, -1, 1, act);
  p.z = gen(bhp, -1, 1, act);
  if (c.dims.at("per_head") != 0) {  // Mamba2: dt, A, D, dt_bias per head
    p.dt = gen({p.batch, p.nheads}, -4, -1, act);
    p.A = gen({p.nheads}, -8, -1, param);
    p.D = gen({p.nheads}, -1, 1, param);
    p.dt_bias = gen({p.nheads}, 0, 0.5, param);
  } else {  // Mamba1: per channel, A per (channel, state)
    p.dt = gen(bhp, -4, -1, act);
    p.A = gen({p.nheads, p.headdim, p.dstate}, -2, -0.1, param);
    p.D = gen({p.nheads, p.headdim}, -1, 1, param);
    p.dt_bias = gen({p.nheads, p.headdim}, 0, 0.5, param);
  }
  return p;
}
template <>
void OpDescriptor<SelectiveStateUpdateParams>::bench_cases(const bench::ShapePreset& preset,
                                                           const bench::SweepOptions& sweep,
                                                           DType dtype, bench::CaseList& cases) {
  using bench::CaseList;
  for (DType st : sweep.state_dtypes) {
    for (auto B : sweep.decode_batches) {
      if (preset.mamba1) {
        const auto& m = *preset.mamba1;
        cases.add(name,
                  {{"batch", B}, {"nheads", 1}, {"headdim", m.d_inner}, {"dstate", m.d_state},
                   {"ngroups", 1}, {"per_head", 0}},
                  CaseList::term("B", B) + " " + CaseList::term("D", m.d_inner) + " " +
                      CaseList::term("N", m.d_state),
                  dtype, st, true);
      }
      if (preset.mamba2) {
        const auto& m = *preset.mamba2;
        cases.add(name,
                  {{"batch", B}, {"nheads", m.nheads}, {"headdim", m.headdim}, {"dstate", m.d_state},
                   {"ngroups", m.ngroups}, {"per_head", 1}},
                  CaseList::term("B", B) + " " + CaseList::term("H", m.nheads) + " " +
                      CaseList::term("P", m.headdim) + " " + CaseList::term("N", m.d_state) + " " +
                      CaseList::term("G", m.ngroups),
                  dtype, st, true);
      }
    }
  }
}
template <>
CheckUnits OpDescriptor<SelectiveStateUpdateParams>::check_units(const SelectiveStateUpdateParams& p) {
  CheckUnits u = p.nheads == 1 ? CheckUnits{p.batch, p.headdim, p.headdim, "channels"}
                               : CheckUnits{p.batch, p.nheads, p.nheads / p.ngroups, "heads"};
  // Rows gathered through slot indices write other rows' slots: compared whole.
  u.sliceable = p.state_batch_indices.empty();
  return u;
}
template <>
SelectiveStateUpdateParams OpDescriptor<SelectiveStateUpdateParams>::slice(
    const SelectiveStateUpdateParams& call, const bench::Slice& s) {
  using bench::cut;
  const bench::Range b{s.batch_row, 1}, u{s.first, s.count}, all{}, g{call.ngroups - 1, 1};
  SelectiveStateUpdateParams p = call;
  p.B = cut(p.B, {b, g}), p.C = cut(p.C, {b, g});
  if (p.nheads == 1) {  // Mamba1: units are the channels of the single head
    p.state = cut(p.state, {b, all, u}), p.x = cut(p.x, {b, all, u});
    p.z = cut(p.z, {b, all, u}), p.dt = cut(p.dt, {b, all, u});
    p.A = cut(p.A, {all, u}), p.D = cut(p.D, {all, u}), p.dt_bias = cut(p.dt_bias, {all, u});
    p.headdim = s.count;
  } else {
    p.state = cut(p.state, {b, u}), p.x = cut(p.x, {b, u}), p.z = cut(p.z, {b, u});
    p.dt = cut(p.dt, {b, u}), p.A = cut(p.A, {u}), p.D = cut(p.D, {u});
    p.dt_bias = cut(p.dt_bias, {u});
    p.nheads = s.count;
  }
  p.batch = 1, p.state_slots = 1, p.ngroups = 1;
  return p;
}
template <>
NamedTensors OpDescriptor<SelectiveStateUpdateParams>::slice_outputs(
    const SelectiveStateUpdateParams& p, const NamedTensors& outputs, const bench::Slice& s) {
  const bench::Range b{s.batch_row, 1}, u{s.first, s.count}, all{};
  return bench::cut_outputs(outputs, p.nheads == 1 ? std::vector<bench::Range>{b, all, u}
                                                   : std::vector<bench::Range>{b, u});
}

// ---- golden names and calls ---------------------------------------------------------------

template <>
GoldenNames OpDescriptor<SelectiveScanParams>::golden_names() {
  return {{"u", "delta", "A", "B", "C", "D", "z", "delta_bias"}, {"out", "last_state"},
          {"delta_softplus"}};
}
template <>
GoldenCall OpDescriptor<SelectiveScanParams>::golden_call(const SelectiveScanParams& p) {
  GoldenCall call = detail::golden_call_in(p.input_dtype);
  for (const auto& [name, t] : {std::pair{"u", &p.u}, {"delta", &p.delta}, {"A", &p.A}, {"B", &p.B},
                                {"C", &p.C}, {"D", &p.D}, {"z", &p.z}, {"delta_bias", &p.delta_bias}}) {
    detail::put_input(call, name, *t);
  }
  call.attrs["delta_softplus"] = detail::attr_number(p.delta_softplus);
  return call;
}
template <>
GoldenNames OpDescriptor<SelectiveStateUpdateParams>::golden_names() {
  return {{"state", "x", "dt", "A", "B", "C", "D", "z", "dt_bias", "state_batch_indices"},
          {"out", "state"},
          {"dt_softplus", "pad_slot_id"}};
}
template <>
GoldenCall OpDescriptor<SelectiveStateUpdateParams>::golden_call(const SelectiveStateUpdateParams& p) {
  GoldenCall call = detail::golden_call_in(p.input_dtype);
  for (const auto& [name, t] : {std::pair{"state", &p.state}, {"x", &p.x}, {"dt", &p.dt}, {"A", &p.A},
                                {"B", &p.B}, {"C", &p.C}, {"D", &p.D}, {"z", &p.z},
                                {"dt_bias", &p.dt_bias}}) {
    detail::put_input(call, name, *t);
  }
  detail::put_indices(call, "state_batch_indices", p.state_batch_indices, {p.batch});
  call.attrs["dt_softplus"] = detail::attr_number(p.dt_softplus);
  if (!p.state_batch_indices.empty()) {
    call.attrs["pad_slot_id"] = detail::attr_number(static_cast<double>(p.pad_slot_id));
  }
  return call;
}

}  // namespace ssmkit
