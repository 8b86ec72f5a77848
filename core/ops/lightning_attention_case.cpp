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
    auto r = backend.lightning_attention(p_);
    return {{"out", r.out}, {"final_state", r.final_state}};
  }

 private:
  LightningAttentionParams p_;
  std::string summary_;
};

}  // namespace

std::unique_ptr<OpCase> make_lightning_attention_case(const GoldenCase& g) {
  return std::make_unique<LightningAttentionCase>(g);
}

}  // namespace ssmkit
