#include "ssmkit/drift/state_rounding.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace ssmkit {
namespace {

struct Format {
  int precision;  // significand bits, the implicit one included
  int min_exponent;  // of the smallest normal number, 2^min_exponent
  double max_finite;
};

Format format_of(DType dtype) {
  switch (dtype) {
    case DType::float32: return {24, -126, std::numeric_limits<float>::max()};
    case DType::bfloat16: return {8, -126, 0x1.fep127};
    case DType::float16: return {11, -14, 65504.0};
    default:
      throw std::invalid_argument("stochastic rounding: no narrow format " +
                                  std::string(dtype_name(dtype)));
  }
}

}  // namespace

std::string_view rounding_name(StateRounding rounding) {
  return rounding == StateRounding::nearest ? "nearest" : "stochastic";
}

std::optional<StateRounding> parse_rounding(std::string_view name) {
  if (name == "nearest") return StateRounding::nearest;
  if (name == "stochastic") return StateRounding::stochastic;
  return std::nullopt;
}

Bracket bracket_in_dtype(double value, DType dtype) {
  const Format f = format_of(dtype);
  if (!std::isfinite(value)) return {value, value};
  const double magnitude = std::fabs(value);
  if (magnitude > f.max_finite) {
    const double inf = std::numeric_limits<double>::infinity();
    return value > 0 ? Bracket{f.max_finite, inf} : Bracket{-inf, -f.max_finite};
  }
  // The spacing of the format's numbers around `value`: 2^(e - precision + 1) in the binade
  // [2^e, 2^(e+1)), constant below the smallest normal (subnormals). Every multiple of it
  // in that binade is representable, and both neighbours are exact in double.
  int e = magnitude == 0 ? f.min_exponent : std::ilogb(magnitude);
  if (e < f.min_exponent) e = f.min_exponent;
  const double spacing = std::ldexp(1.0, e - f.precision + 1);
  const double lo = std::floor(value / spacing) * spacing;
  return {lo, lo == value ? lo : lo + spacing};
}

double round_stochastic(double value, DType dtype, double uniform) {
  const Bracket b = bracket_in_dtype(value, dtype);
  if (b.lo == b.hi) return b.lo;
  // Beyond the largest finite value no probability is meaningful: overflow as rounding to
  // nearest does.
  if (std::isinf(b.lo) || std::isinf(b.hi)) return round_to_dtype(value, dtype);
  return uniform < (value - b.lo) / (b.hi - b.lo) ? b.hi : b.lo;
}

double UniformStream::next() {
  state_ += 0x9e3779b97f4a7c15ull;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

}  // namespace ssmkit
