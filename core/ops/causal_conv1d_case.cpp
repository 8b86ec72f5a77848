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
    auto r = backend.causal_conv1d(p_);
    return {{"out", r.out}, {"final_states", r.final_states}, {"conv_state", r.conv_state}};
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
    auto r = backend.causal_conv1d_update(p_);
    Tensor out = single_token_ ? r.out.reshaped({p_.batch, p_.dim}) : r.out;
    return {{"out", out}, {"conv_state", r.conv_state}};
  }

 private:
  CausalConv1dUpdateParams p_;
  bool single_token_ = true;
  std::string summary_;
};

}  // namespace

std::unique_ptr<OpCase> make_causal_conv1d_case(const GoldenCase& g) {
  return std::make_unique<CausalConv1dCase>(g);
}
std::unique_ptr<OpCase> make_causal_conv1d_update_case(const GoldenCase& g) {
  return std::make_unique<CausalConv1dUpdateCase>(g);
}

}  // namespace ssmkit
