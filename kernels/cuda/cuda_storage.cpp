#include "cuda_storage.hpp"

#include <cuda_runtime.h>

#include "cuda_check.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit::cuda {
namespace {

// Makes `device` current for one call and restores the caller's device afterwards, so a
// buffer is always touched on the device that owns it.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    SSMKIT_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) SSMKIT_CUDA_CHECK(cudaSetDevice(device));
    switched_ = previous_ != device;
  }
  ~DeviceScope() {
    if (switched_) cudaSetDevice(previous_);  // nothing useful to do with an error here
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

class CudaBuffer final : public StorageBuffer {
 public:
  CudaBuffer(int device, const std::string& location, std::size_t nbytes)
      : StorageBuffer(location, nbytes), device_(device) {
    if (nbytes == 0) return;  // nothing to hold; data() stays null
    DeviceScope scope(device_);
    const cudaError_t alloc = cudaMalloc(&ptr_, nbytes);
    if (alloc == cudaErrorMemoryAllocation) {
      // A cache sized beyond the device is a configuration problem, not a crash.
      cudaGetLastError();  // leave no error behind for the next launch check
      std::size_t free = 0, total = 0;
      cudaMemGetInfo(&free, &total);
      throw InputError(location, "cache storage",
                       "room for " + std::to_string(nbytes) + " more bytes; " +
                           std::to_string(free) + " of " + std::to_string(total) +
                           " bytes are free (lower the cache's memory budget or its slots)");
    }
    SSMKIT_CUDA_CHECK(alloc);
    const cudaError_t err = cudaMemset(ptr_, 0, nbytes);
    if (err != cudaSuccess) {
      cudaFree(ptr_);  // the memset's error is the one to report
      throw_cuda_error(err, "cudaMemset(ptr_, 0, nbytes)", __FILE__, __LINE__);
    }
  }
  ~CudaBuffer() override {
    if (ptr_ == nullptr) return;
    DeviceScope scope(device_);
    cudaFree(ptr_);  // a destructor cannot report an error usefully
  }
  void* data() override { return ptr_; }
  const void* data() const override { return ptr_; }

 private:
  void read_bytes(std::size_t offset, std::span<std::byte> out) const override {
    DeviceScope scope(device_);
    SSMKIT_CUDA_CHECK(cudaMemcpy(out.data(), static_cast<const std::byte*>(ptr_) + offset,
                                 out.size(), cudaMemcpyDeviceToHost));
  }
  void write_bytes(std::size_t offset, std::span<const std::byte> in) override {
    DeviceScope scope(device_);
    SSMKIT_CUDA_CHECK(cudaMemcpy(static_cast<std::byte*>(ptr_) + offset, in.data(), in.size(),
                                 cudaMemcpyHostToDevice));
  }
  void zero_bytes(std::size_t offset, std::size_t count) override {
    DeviceScope scope(device_);
    SSMKIT_CUDA_CHECK(cudaMemset(static_cast<std::byte*>(ptr_) + offset, 0, count));
  }

  int device_;
  void* ptr_ = nullptr;
};

}  // namespace

CudaStorage::CudaStorage(int device) : device_(device) {
  cudaDeviceProp prop{};
  SSMKIT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  location_ = "CUDA device " + std::to_string(device) + " (" + prop.name + ")";
}

std::unique_ptr<StorageBuffer> CudaStorage::allocate(std::size_t nbytes) {
  return std::make_unique<CudaBuffer>(device_, location_, nbytes);
}

bool is_device_memory(const void* ptr) {
  cudaPointerAttributes attributes{};
  SSMKIT_CUDA_CHECK(cudaPointerGetAttributes(&attributes, ptr));
  return attributes.type == cudaMemoryTypeDevice;
}

}  // namespace ssmkit::cuda
