#pragma once
#include "ssmkit/tensor.hpp"

namespace ssmkit {

// Every cache allocates its storage tensors (KV pages, conv windows, SSM states) through
// this one function, zero-filled, so that the memory a cache holds has a single source and
// a device allocator has a single place to hook in. Storage is host memory today.
Tensor allocate_cache_storage(DType dtype, Shape shape);

}  // namespace ssmkit
