#pragma once
#include <memory>
#include <string>

#include "ssmkit/cache/cache_storage.hpp"

namespace ssmkit::cuda {

// Cache storage in one GPU's memory: what CudaBackend::storage_allocator() hands to the
// caches, so that their states and pages stay on the device between the steps of a replay.
// Buffers are cudaMalloc'ed and zero-filled; read / write / zero are cudaMemcpy and
// cudaMemset on the legacy default stream, so they wait for work queued there and a read
// returns once its bytes are on the host. Kernels on other streams must be synchronised
// with it before the cache is read or written from the host. Every CUDA call is checked.
class CudaStorage final : public StorageAllocator {
 public:
  explicit CudaStorage(int device);  // the device the buffers are allocated on

  std::string location() const override { return location_; }  // "CUDA device 0 (NVIDIA ...)"
  bool holds_data() const override { return true; }
  std::unique_ptr<StorageBuffer> allocate(std::size_t nbytes) override;

 private:
  int device_;
  std::string location_;
};

// Whether `ptr` points into device memory (cudaPointerGetAttributes): lets tests and callers
// check where a cache's data() lives.
bool is_device_memory(const void* ptr);

}  // namespace ssmkit::cuda
