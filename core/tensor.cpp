#include "ssmkit/tensor.hpp"

#include <cstring>
#include <stdexcept>
#include <sstream>

namespace ssmkit {

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t n = 1;
  for (auto d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) {
      throw std::length_error("shape " + shape_str(shape) + " has more elements than 64 bits count");
    }
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '(';
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << (shape.size() == 1 ? ",)" : ")");
  return os.str();
}

Tensor::Tensor(DType dtype, Shape shape) : defined_(true), dtype_(dtype), shape_(std::move(shape)) {
  for (auto d : shape_) {
    if (d < 0) throw std::invalid_argument("Tensor: negative dimension in " + shape_str(shape_));
  }
  data_.resize(static_cast<std::size_t>(numel()) * dtype_size(dtype_));
}

std::int64_t Tensor::dim(int i) const {
  int r = rank();
  if (i < 0) i += r;
  if (i < 0 || i >= r) {
    throw std::out_of_range("Tensor::dim(" + std::to_string(i) + ") of shape " + shape_str(shape_));
  }
  return shape_[static_cast<std::size_t>(i)];
}

void Tensor::check_dtype(DType wanted) const {
  if (!defined_) throw std::logic_error("access to an undefined tensor");
  if (wanted != dtype_) {
    throw std::logic_error("tensor of dtype " + std::string(dtype_name(dtype_)) +
                           " accessed as " + std::string(dtype_name(wanted)));
  }
}

double Tensor::value(std::int64_t i) const {
  const std::byte* p = data_.data() + static_cast<std::size_t>(i) * dtype_size(dtype_);
  switch (dtype_) {
    case DType::float32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::float64: { double v; std::memcpy(&v, p, 8); return v; }
    case DType::int32: { std::int32_t v; std::memcpy(&v, p, 4); return static_cast<double>(v); }
    case DType::int64: { std::int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case DType::bfloat16: { std::uint16_t v; std::memcpy(&v, p, 2); return bfloat16_to_float(v); }
    case DType::float16: { std::uint16_t v; std::memcpy(&v, p, 2); return float16_to_float(v); }
  }
  throw std::logic_error("unknown dtype");
}

Tensor Tensor::to(DType dtype) const {
  if (!defined_) return {};
  if (dtype == dtype_) return *this;
  Tensor out(dtype, shape_);
  const std::int64_t n = numel();
  std::byte* dst = out.data_.data();
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = value(i);
    std::byte* p = dst + static_cast<std::size_t>(i) * dtype_size(dtype);
    switch (dtype) {
      case DType::float32: { float f = static_cast<float>(v); std::memcpy(p, &f, 4); break; }
      case DType::float64: std::memcpy(p, &v, 8); break;
      case DType::int32: { auto x = static_cast<std::int32_t>(v); std::memcpy(p, &x, 4); break; }
      case DType::int64: { auto x = static_cast<std::int64_t>(v); std::memcpy(p, &x, 8); break; }
      case DType::bfloat16: {
        std::uint16_t b = float_to_bfloat16(static_cast<float>(v));
        std::memcpy(p, &b, 2);
        break;
      }
      case DType::float16: {
        std::uint16_t h = float_to_float16(static_cast<float>(v));
        std::memcpy(p, &h, 2);
        break;
      }
    }
  }
  return out;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel()) {
    throw std::invalid_argument("cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  }
  Tensor out = *this;
  out.shape_ = std::move(shape);
  return out;
}

}  // namespace ssmkit
