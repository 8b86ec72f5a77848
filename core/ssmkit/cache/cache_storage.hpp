#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "ssmkit/tensor.hpp"

namespace ssmkit {

// Where a cache's storage lives. Every cache allocates its storage tensors (KV pages, conv
// windows, SSM states) through a StorageAllocator handed to its constructor, so one cache
// class serves host memory, a GPU's memory and accounting-only runs alike. core/ knows
// only this interface; device allocators live with their backend (CudaBackend's in
// kernels/cuda/cuda_storage.hpp) and a backend offers its own as
// Backend::storage_allocator(). An allocator must outlive every cache built on it.

// A block of bytes somewhere. data() is the address a kernel uses: a host pointer for host
// memory, a device pointer for a GPU's memory, nullptr for an omitted buffer. Everything
// else reaches the bytes through read / write / zero, which copy between the buffer and
// host memory; a range outside the buffer is a std::logic_error naming the buffer.
class StorageBuffer {
 public:
  virtual ~StorageBuffer() = default;
  StorageBuffer(const StorageBuffer&) = delete;
  StorageBuffer& operator=(const StorageBuffer&) = delete;

  std::size_t nbytes() const { return nbytes_; }
  virtual void* data() = 0;
  virtual const void* data() const = 0;

  // Bytes [offset, offset + out.size()) into `out`.
  void read(std::size_t offset, std::span<std::byte> out) const;
  // `in` into bytes [offset, offset + in.size()).
  void write(std::size_t offset, std::span<const std::byte> in);
  void zero(std::size_t offset, std::size_t count);

  // "a 4096-byte buffer in host memory", for error messages.
  std::string describe() const;

 protected:
  StorageBuffer(std::string location, std::size_t nbytes)
      : location_(std::move(location)), nbytes_(nbytes) {}

  // Called with ranges already checked against nbytes().
  virtual void read_bytes(std::size_t offset, std::span<std::byte> out) const = 0;
  virtual void write_bytes(std::size_t offset, std::span<const std::byte> in) = 0;
  virtual void zero_bytes(std::size_t offset, std::size_t count) = 0;

 private:
  void check_range(const char* what, std::size_t offset, std::size_t count) const;

  std::string location_;
  std::size_t nbytes_;
};

class StorageAllocator {
 public:
  virtual ~StorageAllocator() = default;
  // Where the buffers live: "host memory", "CUDA device 0 (NVIDIA H100 80GB HBM3)",
  // "omitted (accounting only)".
  virtual std::string location() const = 0;
  // False for an allocator whose buffers hold no bytes (OmittedStorage).
  virtual bool holds_data() const = 0;
  // A zero-filled buffer of `nbytes`: a fresh slot or page reads as zeros, the state a
  // sequence starts from.
  virtual std::unique_ptr<StorageBuffer> allocate(std::size_t nbytes) = 0;
};

// Host memory; one allocator serves the whole process.
StorageAllocator& host_storage();

// Accounting-only runs (a trace replay that counts pages and slots but computes nothing)
// need a cache's bookkeeping, not its contents, and a full-size cache may not fit in any
// memory. The buffers this allocator hands out have a size but no bytes: data() is
// nullptr and read / write / zero are a std::logic_error. It adds up what it was asked
// for, so that tests can hold it against the caches' usage accounting.
class OmittedStorage final : public StorageAllocator {
 public:
  std::string location() const override { return "omitted (accounting only)"; }
  bool holds_data() const override { return false; }
  std::unique_ptr<StorageBuffer> allocate(std::size_t nbytes) override;

  std::size_t bytes_omitted() const { return bytes_omitted_; }

 private:
  std::size_t bytes_omitted_ = 0;
};

// A dense row-major tensor whose bytes live in a StorageBuffer: the storage of every
// cache. Host code moves data in and out by whole tensors or by rows of the leading axis
// (a slot of a state cache, a page of a paged KV cache, a batch row of a contiguous KV
// cache), which are contiguous, so each row is one copy whatever the buffer's location.
// The row helpers and from_host take host tensors of exactly this dtype: converting is the
// caller's business (the caches round what they are given to their storage dtype first).
class CacheTensor {
 public:
  CacheTensor(StorageAllocator& allocator, DType dtype, Shape shape);  // zero-filled
  CacheTensor(CacheTensor&&) noexcept = default;
  CacheTensor& operator=(CacheTensor&&) noexcept = default;

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  std::int64_t dim(int i) const;  // negative counts from the end
  std::int64_t numel() const { return shape_numel(shape_); }
  std::size_t nbytes() const { return buffer_->nbytes(); }
  // Elements in one row of the leading axis.
  std::int64_t row_numel() const;

  void* data() { return buffer_->data(); }
  const void* data() const { return buffer_->data(); }
  const StorageBuffer& buffer() const { return *buffer_; }
  StorageBuffer& buffer() { return *buffer_; }

  Tensor to_host() const;
  void from_host(const Tensor& host);  // same dtype and shape

  // Rows [first, first + count) of the leading axis, (count, *shape[1:]).
  Tensor read_rows(std::int64_t first, std::int64_t count) const;
  // rows: (n, *shape[1:]) into rows [first, first + n).
  void write_rows(std::int64_t first, const Tensor& rows);
  void zero_rows(std::int64_t first, std::int64_t count);

  // The same by flat element offset, for the parts of a row a cache fills one token at a
  // time (positions of a contiguous KV cache's slot). `host` holds `count` elements of
  // this dtype from element `host_offset` on.
  void read_elements(std::int64_t first, std::int64_t count, Tensor& host,
                     std::int64_t host_offset) const;
  void write_elements(std::int64_t first, std::int64_t count, const Tensor& host,
                      std::int64_t host_offset);
  void zero_elements(std::int64_t first, std::int64_t count);

 private:
  void check_elements(const char* what, std::int64_t first, std::int64_t count) const;
  void check_host(const char* what, const Tensor& host, std::int64_t host_offset,
                  std::int64_t count) const;

  DType dtype_;
  Shape shape_;
  std::unique_ptr<StorageBuffer> buffer_;
};

}  // namespace ssmkit
