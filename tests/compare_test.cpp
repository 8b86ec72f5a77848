#include <gtest/gtest.h>

#include <cmath>

#include "ssmkit/compare.hpp"
#include "ssmkit/ops/op_list.hpp"
#include "ssmkit/tolerance.hpp"
#include "test_util.hpp"

namespace ssmkit {

TEST(Compare, FollowsTorchAllcloseRule) {
  Tensor expected = Tensor::from_vector<double>({3}, {1.0, -2.0, 0.0});
  Tensor actual = Tensor::from_vector<double>({3}, {1.0 + 1.5e-3, -2.0, 1e-3});
  // Element 0: |err| 1.5e-3 <= 1e-3 + 1e-3*1 = 2e-3 passes; element 2: 1e-3 <= 1e-3 passes.
  EXPECT_TRUE(compare(actual, expected, {1e-3, 1e-3}).passed());
  Comparison c = compare(actual, expected, {1e-3, 1e-4});
  EXPECT_FALSE(c.passed());
  EXPECT_EQ(c.mismatches, 1);
  EXPECT_EQ(c.worst_index, 0);
  EXPECT_NEAR(c.max_abs_error, 1.5e-3, 1e-15);
  EXPECT_NEAR(c.max_rel_error, 1.5e-3, 1e-15);
  EXPECT_NEAR(c.rel_l2_error, std::sqrt(1.5e-3 * 1.5e-3 + 1e-6) / std::sqrt(5.0), 1e-15);
}

TEST(Compare, NanOrInfFailsWhateverTheTolerance) {
  Tensor expected = Tensor::from_vector<double>({2}, {1.0, 2.0});
  Tensor actual = Tensor::from_vector<double>({2}, {1.0, NAN});
  Comparison c = compare(actual, expected, {1e9, 1e9});
  EXPECT_FALSE(c.passed());
  EXPECT_EQ(c.nonfinite, 1);
  EXPECT_EQ(c.worst_index, 1);
  EXPECT_FALSE(compare(expected, Tensor::from_vector<double>({2}, {INFINITY, 2.0}), {1e9, 1e9})
                   .passed());
}

TEST(Compare, ShapeMismatchFails) {
  Tensor a(DType::float64, {2, 3});
  Tensor b(DType::float64, {3, 2});
  Comparison c = compare(a, b, {1.0, 1.0});
  EXPECT_FALSE(c.shape_matches);
  EXPECT_FALSE(c.passed());
}

TEST(Compare, WorstIndexIsReportedPerDimension) {
  EXPECT_EQ(multi_index_str({2, 3, 4}, 0), "[0, 0, 0]");
  EXPECT_EQ(multi_index_str({2, 3, 4}, 23), "[1, 2, 3]");
  EXPECT_EQ(multi_index_str({2, 3, 4}, 13), "[1, 0, 1]");
}

// The contract of the default tolerances: a float32 golden whose outputs moved by 1e-3
// relative must fail for every op.
TEST(Tolerance, DefaultsRejectOneInAThousandPerturbation) {
  std::mt19937 rng(7);
  Tensor expected = test::random_tensor({1000}, rng, -3.0, 3.0);
  Tensor perturbed = expected;
  for (auto& v : perturbed.span<double>()) v *= 1.0 + 1e-3;
  for_each_op([&]<class P>() {
    if (OpDescriptor<P>::tolerance_class() == ToleranceClass::exact) return;  // copies: atol 0
    const std::string op(OpTraits<P>::name);
    EXPECT_FALSE(compare(perturbed, expected, default_tolerance(op, DType::float32)).passed())
        << op;
    EXPECT_TRUE(compare(expected, expected, default_tolerance(op, DType::float32)).passed())
        << op;
  });
}

TEST(Tolerance, LowPrecisionInputsGetLooserDefaults) {
  const auto f32 = default_tolerance("selective_scan", DType::float32);
  const auto f16 = default_tolerance("selective_scan", DType::float16);
  const auto bf16 = default_tolerance("selective_scan", DType::bfloat16);
  EXPECT_LT(f32.rtol, f16.rtol);
  EXPECT_LT(f16.rtol, bf16.rtol);
  // One bf16 rounding (2^-8 relative) must be inside the bf16 tolerance.
  EXPECT_GT(bf16.rtol, std::ldexp(1.0, -8));
}

}  // namespace ssmkit

namespace ssmkit {
namespace {

// bench's check allows for the rounding of the dtype a call is kept in: its inputs', or
// bfloat16 where a decode op keeps its state in bfloat16, whatever the inputs.
TEST(Tolerance, AStateKeptInBfloat16IsCheckedAsBfloat16) {
  SelectiveStateUpdateParams ssu;
  ssu.input_dtype = DType::float32;
  EXPECT_EQ(OpDescriptor<SelectiveStateUpdateParams>::tolerance_dtype(ssu), DType::float32);
  ssu.state_dtype = DType::bfloat16;
  EXPECT_EQ(OpDescriptor<SelectiveStateUpdateParams>::tolerance_dtype(ssu), DType::bfloat16);
  KdaUpdateParams kda;
  kda.input_dtype = DType::float16;
  EXPECT_EQ(OpDescriptor<KdaUpdateParams>::tolerance_dtype(kda), DType::float16);
  kda.state_dtype = DType::bfloat16;
  EXPECT_EQ(OpDescriptor<KdaUpdateParams>::tolerance_dtype(kda), DType::bfloat16);
  GatedDeltaRuleUpdateParams gdn;
  gdn.input_dtype = DType::float32, gdn.state_dtype = DType::bfloat16;
  EXPECT_EQ(OpDescriptor<GatedDeltaRuleUpdateParams>::tolerance_dtype(gdn), DType::bfloat16);
  GatedDeltaRuleParams prefill;  // no state dtype: its inputs'
  prefill.input_dtype = DType::bfloat16;
  EXPECT_EQ(OpDescriptor<GatedDeltaRuleParams>::tolerance_dtype(prefill), DType::bfloat16);
  prefill.input_dtype = DType::float32;
  EXPECT_EQ(OpDescriptor<GatedDeltaRuleParams>::tolerance_dtype(prefill), DType::float32);
}

}  // namespace
}  // namespace ssmkit
