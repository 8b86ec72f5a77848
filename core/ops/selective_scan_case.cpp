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
    auto r = backend.selective_scan(p_);
    return {{"out", r.out}, {"last_state", r.last_state}};
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
      for (auto slot : p_.state_batch_indices) {
        if (slot != p_.pad_slot_id && (slot < 0 || slot >= p_.state_slots)) {
          s.fail("inputs/state_batch_indices",
                 "slot " + std::to_string(slot) + " is outside [0, " +
                     std::to_string(p_.state_slots) + ") and is not the pad slot id " +
                     std::to_string(p_.pad_slot_id));
        }
      }
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
    auto r = backend.selective_state_update(p_);
    return {{"out", r.out.reshaped(out_shape_)}, {"state", r.state.reshaped(state_shape_)}};
  }

 private:
  SelectiveStateUpdateParams p_;
  bool multihead_ = false, per_head_dt_ = false;
  Shape state_shape_, out_shape_;
  std::string summary_;
};

}  // namespace

std::unique_ptr<OpCase> make_selective_scan_case(const GoldenCase& g) {
  return std::make_unique<SelectiveScanCase>(g);
}
std::unique_ptr<OpCase> make_selective_state_update_case(const GoldenCase& g) {
  return std::make_unique<SelectiveStateUpdateCase>(g);
}

}  // namespace ssmkit
