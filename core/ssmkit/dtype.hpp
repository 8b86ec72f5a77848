#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ssmkit {

enum class DType { float32, float64, bfloat16, float16, int32, int64 };

std::string_view dtype_name(DType dtype);
std::optional<DType> parse_dtype(std::string_view name);
std::size_t dtype_size(DType dtype);
bool is_floating(DType dtype);

// Rounding to nearest even, as PyTorch's .to(torch.bfloat16) / .half() do; NaN stays NaN.
std::uint16_t float_to_bfloat16(float value);
float bfloat16_to_float(std::uint16_t bits);
std::uint16_t float_to_float16(float value);
float float16_to_float(std::uint16_t bits);

// The value `value` takes after a round trip through `dtype` (identity for wide types).
double round_to_dtype(double value, DType dtype);

template <class T>
struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::float32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::float64; };
template <> struct DTypeOf<std::int32_t> { static constexpr DType value = DType::int32; };
template <> struct DTypeOf<std::int64_t> { static constexpr DType value = DType::int64; };

}  // namespace ssmkit
