#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ssmkit/dtype.hpp"

namespace ssmkit {

using Shape = std::vector<std::int64_t>;

std::int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "(2, 3, 4)"

// A dense, row-major tensor in host memory. Device copies are the backends' business:
// core/ stays free of any accelerator API.
class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);  // zero-filled

  template <class T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values) {
    Tensor t(DTypeOf<T>::value, std::move(shape));
    if (static_cast<std::int64_t>(values.size()) != t.numel()) {
      throw std::invalid_argument("Tensor::from_vector: " + std::to_string(values.size()) +
                                  " values for shape " + shape_str(t.shape()));
    }
    std::copy(values.begin(), values.end(), t.span<T>().begin());
    return t;
  }

  bool defined() const { return defined_; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  std::int64_t dim(int i) const;  // negative counts from the end
  std::int64_t numel() const { return shape_numel(shape_); }
  std::size_t nbytes() const { return data_.size(); }
  std::byte* bytes() { return data_.data(); }
  const std::byte* bytes() const { return data_.data(); }

  template <class T>
  std::span<T> span() {
    check_dtype(DTypeOf<T>::value);
    return {reinterpret_cast<T*>(data_.data()), static_cast<std::size_t>(numel())};
  }
  template <class T>
  std::span<const T> span() const {
    check_dtype(DTypeOf<T>::value);
    return {reinterpret_cast<const T*>(data_.data()), static_cast<std::size_t>(numel())};
  }

  double value(std::int64_t flat_index) const;  // any dtype, widened to double
  Tensor to(DType dtype) const;
  Tensor reshaped(Shape shape) const;  // same elements, new shape

 private:
  void check_dtype(DType wanted) const;

  bool defined_ = false;
  DType dtype_ = DType::float32;
  Shape shape_;
  std::vector<std::byte> data_;
};

}  // namespace ssmkit
