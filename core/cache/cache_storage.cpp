#include "ssmkit/cache/cache_storage.hpp"

namespace ssmkit {
namespace {

thread_local OmitCacheStorage* omitting = nullptr;

}  // namespace

OmitCacheStorage::OmitCacheStorage() : outer_(omitting) { omitting = this; }
OmitCacheStorage::~OmitCacheStorage() {
  omitting = outer_;
  if (outer_ != nullptr) outer_->bytes_omitted_ += bytes_omitted_;  // nested: the outer saw them too
}

// Tensor's constructor zero-fills, which every cache relies on: a fresh slot or page reads
// as zeros, the state a sequence starts from.
Tensor allocate_cache_storage(DType dtype, Shape shape) {
  if (omitting != nullptr) {
    omitting->bytes_omitted_ += static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype);
    return {};
  }
  return Tensor(dtype, std::move(shape));
}

}  // namespace ssmkit
