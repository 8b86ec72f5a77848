#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include "ssmkit/dtype.hpp"

namespace ssmkit {

// How a recurrent state is rounded when it is stored in a narrower dtype.
enum class StateRounding { nearest, stochastic };

std::string_view rounding_name(StateRounding rounding);  // "nearest", "stochastic"
std::optional<StateRounding> parse_rounding(std::string_view name);

// The two neighbours of `value` in `dtype` (float32, bfloat16 or float16) that bracket it:
// lo <= value <= hi, lo == hi when value is representable. Past the dtype's largest finite
// value the bracket is (max, inf) or (-inf, -max).
struct Bracket {
  double lo = 0, hi = 0;
};
Bracket bracket_in_dtype(double value, DType dtype);

// Stochastic rounding: `value` becomes hi with probability (value - lo) / (hi - lo), so that
// the stored value is unbiased. `uniform` is a draw from [0, 1).
double round_stochastic(double value, DType dtype, double uniform);

// A reproducible stream of uniform draws in [0, 1) (splitmix64), one per rounded element.
class UniformStream {
 public:
  explicit UniformStream(std::uint64_t seed) : state_(seed) {}
  double next();

 private:
  std::uint64_t state_;
};

}  // namespace ssmkit
