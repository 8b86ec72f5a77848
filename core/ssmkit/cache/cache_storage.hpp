#pragma once
#include <cstddef>

#include "ssmkit/tensor.hpp"

namespace ssmkit {

// Every cache allocates its storage tensors (KV pages, conv windows, SSM states) through
// this one function, zero-filled, so that the memory a cache holds has a single source and
// a device allocator has a single place to hook in. Storage is host memory today.
Tensor allocate_cache_storage(DType dtype, Shape shape);

// Accounting-only runs (a trace replay that counts pages and slots but computes nothing)
// need a cache's bookkeeping, not its contents, and a full-size cache may not fit in host
// memory. While one of these lives on a thread, allocate_cache_storage on that thread
// allocates nothing: it returns an undefined tensor and adds the bytes it would have
// allocated to bytes_omitted() (of this guard and of any it is nested in), so that tests
// can hold them against the accounting.
// HybridCache(config, CacheStorage::omitted) is the way to use it.
class OmitCacheStorage {
 public:
  OmitCacheStorage();
  ~OmitCacheStorage();
  OmitCacheStorage(const OmitCacheStorage&) = delete;
  OmitCacheStorage& operator=(const OmitCacheStorage&) = delete;

  std::size_t bytes_omitted() const { return bytes_omitted_; }

 private:
  friend Tensor allocate_cache_storage(DType dtype, Shape shape);
  OmitCacheStorage* outer_;
  std::size_t bytes_omitted_ = 0;
};

}  // namespace ssmkit
