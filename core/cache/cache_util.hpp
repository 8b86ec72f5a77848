#pragma once
// Helpers shared by the cache implementations: argument checks that report InputErrors and
// element copies that round to the storage dtype.
#include <cstdint>
#include <span>
#include <string>

#include "ssmkit/cache/cache_storage.hpp"
#include "ssmkit/tensor.hpp"

namespace ssmkit::cache_util {

void require_positive(const std::string& where, const std::string& field, std::int64_t value);
void require_cache_dtype(const std::string& where, const std::string& field, DType dtype);
// 0 <= value < bound.
void require_index(const std::string& where, const std::string& field, std::int64_t value,
                   std::int64_t bound);
// A defined floating tensor of exactly `expected` shape.
void require_shape(const std::string& where, const std::string& field, const Tensor& tensor,
                   const Shape& expected);
// Every entry a slot or kPadSlot, no slot twice (two rows writing one slot is a bug).
void require_slots(const std::string& where, std::span<const std::int64_t> slots,
                   std::int64_t num_slots);

// Copies `count` elements from src[src_offset...] to dst[dst_offset...], rounding to dst's
// dtype. Equal dtypes copy raw bytes, so a stored value is never re-rounded.
void copy_elements(const Tensor& src, std::int64_t src_offset, Tensor& dst, std::int64_t dst_offset,
                   std::int64_t count);
// The same into a cache's storage, wherever it lives: rounded on the host, then one write.
void store_elements(const Tensor& src, std::int64_t src_offset, CacheTensor& dst,
                    std::int64_t dst_offset, std::int64_t count);

std::string layer_name(std::int64_t layer);  // "layer_3"

}  // namespace ssmkit::cache_util

namespace ssmkit::cache_util {

// For member initialisers: a cache's config is validated before anything is sized from it.
template <class Config>
Config validated(Config config) {
  config.validate();
  return config;
}

}  // namespace ssmkit::cache_util
