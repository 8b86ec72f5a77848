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
    return {{"out", backend.gated_rmsnorm(p_).out.reshaped(x_shape_)}};
  }

 private:
  GatedRmsNormParams p_;
  Shape x_shape_;
  std::string summary_;
};

}  // namespace

std::unique_ptr<OpCase> make_gated_rmsnorm_case(const GoldenCase& g) {
  return std::make_unique<GatedRmsNormCase>(g);
}

}  // namespace ssmkit
