#include "ssmkit/cache/cache_storage.hpp"

namespace ssmkit {

// Tensor's constructor zero-fills, which every cache relies on: a fresh slot or page reads
// as zeros, the state a sequence starts from.
Tensor allocate_cache_storage(DType dtype, Shape shape) { return Tensor(dtype, std::move(shape)); }

}  // namespace ssmkit
