#include "ssmkit/dtype.hpp"

#include <bit>
#include <cmath>
#include <stdexcept>

#include "ssmkit/names.hpp"

namespace ssmkit {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::bfloat16: return "bfloat16";
    case DType::float16: return "float16";
    case DType::int32: return "int32";
    case DType::int64: return "int64";
  }
  throw std::logic_error("unknown dtype");
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType d : {DType::float32, DType::float64, DType::bfloat16, DType::float16, DType::int32,
                  DType::int64}) {
    if (equals_ignoring_case(dtype_name(d), name)) return d;
  }
  if (equals_ignoring_case(name, "fp32")) return DType::float32;
  if (equals_ignoring_case(name, "bf16")) return DType::bfloat16;
  if (equals_ignoring_case(name, "fp16") || equals_ignoring_case(name, "half")) return DType::float16;
  return std::nullopt;
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::float32: case DType::int32: return 4;
    case DType::float64: case DType::int64: return 8;
    case DType::bfloat16: case DType::float16: return 2;
  }
  throw std::logic_error("unknown dtype");
}

bool is_floating(DType dtype) { return dtype != DType::int32 && dtype != DType::int64; }

std::uint16_t float_to_bfloat16(float value) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if (std::isnan(value)) return static_cast<std::uint16_t>((bits >> 16) | 0x40);
  std::uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

float bfloat16_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

std::uint16_t float_to_float16(float value) {
  std::uint32_t f = std::bit_cast<std::uint32_t>(value);
  std::uint32_t sign = (f >> 16) & 0x8000;
  std::uint32_t abs = f & 0x7fffffff;
  if (abs >= 0x7f800000) {  // inf or nan
    return static_cast<std::uint16_t>(sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0));
  }
  if (abs >= 0x477ff000) return static_cast<std::uint16_t>(sign | 0x7c00);  // overflow to inf
  if (abs < 0x38800000) {  // subnormal or zero in half
    // Scale into the subnormal range and let the FPU round to nearest even.
    float scaled = std::bit_cast<float>(abs) * 16777216.0f;  // 2^24
    return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(std::nearbyint(scaled)));
  }
  std::uint32_t mant_odd = (abs >> 13) & 1;
  abs += 0xc8000fff + mant_odd;  // rebias exponent (-112 << 23) and round to nearest even
  return static_cast<std::uint16_t>(sign | (abs >> 13));
}

float float16_to_float(std::uint16_t h) {
  std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  std::uint32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000 | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

double round_to_dtype(double value, DType dtype) {
  switch (dtype) {
    case DType::float32: return static_cast<float>(value);
    case DType::bfloat16: return bfloat16_to_float(float_to_bfloat16(static_cast<float>(value)));
    case DType::float16: return float16_to_float(float_to_float16(static_cast<float>(value)));
    default: return value;
  }
}

}  // namespace ssmkit
