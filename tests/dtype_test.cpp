#include <gtest/gtest.h>

#include <cmath>

#include "ssmkit/dtype.hpp"

namespace ssmkit {

TEST(DType, Bfloat16RoundsToNearestEven) {
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f)), 1.0f);
  // 1 + 2^-8 is exactly halfway between two bf16 values; ties go to the even mantissa (1.0).
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f + 0.00390625f)), 1.0f);
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f + 3 * 0.00390625f)), 1.015625f);
  EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(NAN))));
}

TEST(DType, Float16RoundTripsAndRounds) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    EXPECT_EQ(float16_to_float(float_to_float16(v)), v) << v;
  }
  EXPECT_TRUE(std::isinf(float16_to_float(float_to_float16(70000.0f))));
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: round to even gives 1.
  EXPECT_EQ(float16_to_float(float_to_float16(1.0f + 0.00048828125f)), 1.0f);
  EXPECT_EQ(round_to_dtype(0.1, DType::float16), 0.0999755859375);
}

}  // namespace ssmkit
