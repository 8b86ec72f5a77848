#include "ssmkit/cache/cache_storage.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace ssmkit {
namespace {

class HostBuffer final : public StorageBuffer {
 public:
  explicit HostBuffer(std::size_t nbytes) : StorageBuffer("host memory", nbytes), bytes_(nbytes) {}
  void* data() override { return bytes_.data(); }
  const void* data() const override { return bytes_.data(); }

 private:
  void read_bytes(std::size_t offset, std::span<std::byte> out) const override {
    std::memcpy(out.data(), bytes_.data() + offset, out.size());
  }
  void write_bytes(std::size_t offset, std::span<const std::byte> in) override {
    std::memmove(bytes_.data() + offset, in.data(), in.size());  // `in` may be this buffer
  }
  void zero_bytes(std::size_t offset, std::size_t count) override {
    std::memset(bytes_.data() + offset, 0, count);
  }

  std::vector<std::byte> bytes_;  // value-initialised: zero-filled
};

class HostStorage final : public StorageAllocator {
 public:
  std::string location() const override { return "host memory"; }
  bool holds_data() const override { return true; }
  std::unique_ptr<StorageBuffer> allocate(std::size_t nbytes) override {
    return std::make_unique<HostBuffer>(nbytes);
  }
};

class OmittedBuffer final : public StorageBuffer {
 public:
  explicit OmittedBuffer(std::size_t nbytes)
      : StorageBuffer("omitted storage (accounting only)", nbytes) {}
  void* data() override { return nullptr; }
  const void* data() const override { return nullptr; }

 private:
  [[noreturn]] void refuse() const {
    throw std::logic_error(describe() + " holds no data: it was allocated for accounting only");
  }
  void read_bytes(std::size_t, std::span<std::byte>) const override { refuse(); }
  void write_bytes(std::size_t, std::span<const std::byte>) override { refuse(); }
  void zero_bytes(std::size_t, std::size_t) override { refuse(); }
};

std::size_t to_size(std::int64_t n) { return static_cast<std::size_t>(n); }

}  // namespace

std::string StorageBuffer::describe() const {
  return "a " + std::to_string(nbytes_) + "-byte buffer in " + location_;
}

void StorageBuffer::check_range(const char* what, std::size_t offset, std::size_t count) const {
  if (offset > nbytes_ || count > nbytes_ - offset) {
    throw std::logic_error(std::string("StorageBuffer::") + what + ": bytes [" +
                           std::to_string(offset) + ", " + std::to_string(offset + count) +
                           ") lie outside " + describe());
  }
}

void StorageBuffer::read(std::size_t offset, std::span<std::byte> out) const {
  check_range("read", offset, out.size());
  if (!out.empty()) read_bytes(offset, out);
}

void StorageBuffer::write(std::size_t offset, std::span<const std::byte> in) {
  check_range("write", offset, in.size());
  if (!in.empty()) write_bytes(offset, in);
}

void StorageBuffer::zero(std::size_t offset, std::size_t count) {
  check_range("zero", offset, count);
  if (count > 0) zero_bytes(offset, count);
}

StorageAllocator& host_storage() {
  static HostStorage host;
  return host;
}

std::unique_ptr<StorageBuffer> OmittedStorage::allocate(std::size_t nbytes) {
  bytes_omitted_ += nbytes;
  return std::make_unique<OmittedBuffer>(nbytes);
}

CacheTensor::CacheTensor(StorageAllocator& allocator, DType dtype, Shape shape)
    : dtype_(dtype), shape_(std::move(shape)) {
  for (auto d : shape_) {
    if (d < 0) {
      throw std::invalid_argument("CacheTensor: negative dimension in " + shape_str(shape_));
    }
  }
  buffer_ = allocator.allocate(to_size(numel()) * dtype_size(dtype_));
}

std::int64_t CacheTensor::dim(int i) const {
  const int r = rank();
  if (i < 0) i += r;
  if (i < 0 || i >= r) {
    throw std::out_of_range("CacheTensor::dim(" + std::to_string(i) + ") of shape " +
                            shape_str(shape_));
  }
  return shape_[static_cast<std::size_t>(i)];
}

std::int64_t CacheTensor::row_numel() const {
  return shape_.empty() ? 1 : shape_numel(Shape(shape_.begin() + 1, shape_.end()));
}

void CacheTensor::check_elements(const char* what, std::int64_t first, std::int64_t count) const {
  if (first < 0 || count < 0 || first > numel() || count > numel() - first) {
    throw std::logic_error(std::string("CacheTensor::") + what + ": elements [" +
                           std::to_string(first) + ", " + std::to_string(first + count) +
                           ") outside a tensor of shape " + shape_str(shape_) + " (" +
                           buffer_->describe() + ")");
  }
}

void CacheTensor::check_host(const char* what, const Tensor& host, std::int64_t host_offset,
                             std::int64_t count) const {
  if (!host.defined() || host.dtype() != dtype_ || host_offset < 0 ||
      host_offset + count > host.numel()) {
    throw std::logic_error(std::string("CacheTensor::") + what + ": a host " +
                           std::string(dtype_name(dtype_)) + " tensor with elements [" +
                           std::to_string(host_offset) + ", " +
                           std::to_string(host_offset + count) + ") is needed");
  }
}

void CacheTensor::read_elements(std::int64_t first, std::int64_t count, Tensor& host,
                                std::int64_t host_offset) const {
  check_elements("read_elements", first, count);
  check_host("read_elements", host, host_offset, count);
  const std::size_t size = dtype_size(dtype_);
  buffer_->read(to_size(first) * size,
                {host.bytes() + to_size(host_offset) * size, to_size(count) * size});
}

void CacheTensor::write_elements(std::int64_t first, std::int64_t count, const Tensor& host,
                                 std::int64_t host_offset) {
  check_elements("write_elements", first, count);
  check_host("write_elements", host, host_offset, count);
  const std::size_t size = dtype_size(dtype_);
  buffer_->write(to_size(first) * size,
                 {host.bytes() + to_size(host_offset) * size, to_size(count) * size});
}

void CacheTensor::zero_elements(std::int64_t first, std::int64_t count) {
  check_elements("zero_elements", first, count);
  const std::size_t size = dtype_size(dtype_);
  buffer_->zero(to_size(first) * size, to_size(count) * size);
}

Tensor CacheTensor::to_host() const {
  Tensor host(dtype_, shape_);
  read_elements(0, numel(), host, 0);
  return host;
}

void CacheTensor::from_host(const Tensor& host) {
  if (!host.defined() || host.dtype() != dtype_ || host.shape() != shape_) {
    throw std::logic_error("CacheTensor::from_host: a " + std::string(dtype_name(dtype_)) +
                           " tensor of shape " + shape_str(shape_) + " is needed");
  }
  write_elements(0, numel(), host, 0);
}

Tensor CacheTensor::read_rows(std::int64_t first, std::int64_t count) const {
  Shape shape = shape_;
  if (shape.empty() || count < 0) {
    throw std::logic_error("CacheTensor::read_rows: rows of a tensor of shape " +
                           shape_str(shape_));
  }
  shape[0] = count;
  Tensor rows(dtype_, std::move(shape));
  read_elements(first * row_numel(), count * row_numel(), rows, 0);
  return rows;
}

void CacheTensor::write_rows(std::int64_t first, const Tensor& rows) {
  const bool fits = !shape_.empty() && rows.defined() && rows.rank() == rank() &&
                    std::equal(shape_.begin() + 1, shape_.end(), rows.shape().begin() + 1);
  if (!fits) {
    throw std::logic_error("CacheTensor::write_rows: rows of shape (n, ...) matching " +
                           shape_str(shape_) + ", got " +
                           (rows.defined() ? shape_str(rows.shape()) : "an undefined tensor"));
  }
  write_elements(first * row_numel(), rows.numel(), rows, 0);
}

void CacheTensor::zero_rows(std::int64_t first, std::int64_t count) {
  zero_elements(first * row_numel(), count * row_numel());
}

}  // namespace ssmkit
