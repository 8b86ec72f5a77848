#include "op_bindings.hpp"

namespace ssmkit::cuda {

BufferSet::BufferSet(const BufferSet& other) {
  buffers_.reserve(other.buffers_.size());
  for (const auto& b : other.buffers_) buffers_.push_back(b.clone());
}

int BufferSet::input(const Tensor& host, DType dtype) {
  buffers_.push_back(DeviceTensor::upload(host, dtype));
  return static_cast<int>(buffers_.size()) - 1;
}

int BufferSet::output(DType dtype, Shape shape) {
  DeviceTensor t(dtype, std::move(shape));
  if (t.bytes() > 0) SSMKIT_CUDA_CHECK(cudaMemset(t.data<void>(), 0xff, t.bytes()));
  buffers_.push_back(std::move(t));
  return static_cast<int>(buffers_.size()) - 1;
}

Tensor index_tensor(const std::vector<std::int64_t>& values) {
  return Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(values.size())}, values);
}

std::unique_ptr<BoundOp> bind(const OpParams& op) {
  return std::visit([](const auto& p) { return bind_op(p); }, op);
}

namespace {

// The bandwidth reference: one device-to-device copy.
class MemoryCopyBinding final : public BoundOp {
 public:
  explicit MemoryCopyBinding(std::int64_t bytes)
      : src_(DType::float32, {bytes / 4}), dst_(DType::float32, {bytes / 4}) {
    if (src_.bytes() > 0) SSMKIT_CUDA_CHECK(cudaMemset(src_.data<void>(), 0x3c, src_.bytes()));
  }
  void launch(cudaStream_t s) const override {
    SSMKIT_CUDA_CHECK(cudaMemcpyAsync(dst_.data<void>(), src_.data<void>(), src_.bytes(),
                                      cudaMemcpyDeviceToDevice, s));
  }
  OpResult result() const override { return MemoryCopyResult{}; }
  std::unique_ptr<BoundOp> clone() const override {
    return std::make_unique<MemoryCopyBinding>(static_cast<std::int64_t>(src_.bytes()));
  }

 private:
  DeviceTensor src_, dst_;
};

}  // namespace

template <>
std::unique_ptr<BoundOp> bind_op(const MemoryCopyParams& p) {
  return std::make_unique<MemoryCopyBinding>(p.bytes);
}

}  // namespace ssmkit::cuda
