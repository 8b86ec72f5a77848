#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda_check.hpp"
#include "ssmkit/tensor.hpp"

namespace ssmkit::cuda {

// Device memory holding one tensor in a chosen dtype. Host tensors are converted on the
// host (Tensor::to) and copied; results come back widened to float64.
class DeviceTensor {
 public:
  DeviceTensor() = default;
  DeviceTensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
    bytes_ = static_cast<std::size_t>(shape_numel(shape_)) * dtype_size(dtype_);
    if (bytes_ > 0) SSMKIT_CUDA_CHECK(cudaMalloc(&ptr_, bytes_));
    if (bytes_ > 0) SSMKIT_CUDA_CHECK(cudaMemset(ptr_, 0, bytes_));
  }
  // Undefined host tensors (absent optional inputs) give an empty buffer whose data() is null.
  static DeviceTensor upload(const Tensor& host, DType dtype) {
    if (!host.defined()) return {};
    Tensor converted = host.to(dtype);
    DeviceTensor d(dtype, host.shape());
    if (d.bytes_ > 0) {
      SSMKIT_CUDA_CHECK(cudaMemcpy(d.ptr_, converted.bytes(), d.bytes_, cudaMemcpyHostToDevice));
    }
    return d;
  }
  Tensor download() const {
    Tensor host(dtype_, shape_);
    if (bytes_ > 0) {
      SSMKIT_CUDA_CHECK(cudaMemcpy(host.bytes(), ptr_, bytes_, cudaMemcpyDeviceToHost));
    }
    return host.to(DType::float64);
  }

  // An independent device copy (the rotating input sets of a benchmark).
  DeviceTensor clone() const {
    if (!defined()) return {};
    DeviceTensor d(dtype_, shape_);
    SSMKIT_CUDA_CHECK(cudaMemcpy(d.ptr_, ptr_, bytes_, cudaMemcpyDeviceToDevice));
    return d;
  }
  std::size_t bytes() const { return bytes_; }
  const Shape& shape() const { return shape_; }

  ~DeviceTensor() {
    if (ptr_) cudaFree(ptr_);  // nothing useful to do with an error during unwinding
  }
  DeviceTensor(DeviceTensor&& o) noexcept { swap(o); }
  DeviceTensor& operator=(DeviceTensor&& o) noexcept {
    swap(o);
    return *this;
  }
  DeviceTensor(const DeviceTensor&) = delete;
  DeviceTensor& operator=(const DeviceTensor&) = delete;

  template <class T>
  T* data() const { return static_cast<T*>(ptr_); }
  bool defined() const { return ptr_ != nullptr; }
  DType dtype() const { return dtype_; }

 private:
  void swap(DeviceTensor& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    std::swap(dtype_, o.dtype_);
    std::swap(shape_, o.shape_);
  }
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
  DType dtype_ = DType::float32;
  Shape shape_;
};

// The dtype activations are computed in on the GPU: float64 inputs run as float32.
inline DType activation_dtype(DType input_dtype) {
  return input_dtype == DType::float64 ? DType::float32 : input_dtype;
}

}  // namespace ssmkit::cuda
