#pragma once
// Small hand-built cache configurations for the replay tests: their page and slot counts
// are chosen so that the expected schedules can be worked out by hand.
#include "ssmkit/cache/hybrid_cache.hpp"

namespace ssmkit::test {

// One attention layer; `usable_pages` pages of `page_size` tokens besides the dummy page.
inline PagedKVCacheConfig small_kv(std::int64_t usable_pages, std::int64_t page_size,
                                   std::int64_t max_seq_len = 1 << 20) {
  PagedKVCacheConfig kv;
  kv.num_layers = 1, kv.kv_heads = 1, kv.head_dim = 2, kv.page_size = page_size;
  kv.max_seq_len = max_seq_len, kv.dtype = DType::float32;
  kv.memory = MemoryBudget::fixed(static_cast<std::size_t>(usable_pages + 1) * kv.bytes_per_page());
  return kv;
}

inline Mamba2CacheConfig small_mamba2(std::int64_t slots) {
  Mamba2CacheConfig m;
  m.num_layers = 2, m.max_batch = slots, m.intermediate_size = 8, m.num_heads = 4;
  m.head_dim = 2, m.n_groups = 1, m.d_state = 4, m.conv_kernel = 4;
  m.conv_dtype = DType::bfloat16, m.ssm_dtype = DType::float32;
  return m;
}

inline HybridCacheConfig attention_only(std::int64_t usable_pages, std::int64_t page_size,
                                        std::int64_t slots, std::int64_t max_seq_len = 1 << 20) {
  HybridCacheConfig c;
  c.layers = {LayerKind::attention};
  c.max_requests = slots;
  c.attention = small_kv(usable_pages, page_size, max_seq_len);
  return c;
}

// Jamba-like: attention between Mamba2 layers.
inline HybridCacheConfig hybrid(std::int64_t usable_pages, std::int64_t page_size,
                                std::int64_t slots) {
  HybridCacheConfig c;
  c.layers = {LayerKind::mamba2, LayerKind::attention, LayerKind::mamba2};
  c.max_requests = slots;
  c.attention = small_kv(usable_pages, page_size);
  c.mamba2 = small_mamba2(slots);
  return c;
}

inline HybridCacheConfig ssm_only(std::int64_t slots) {
  HybridCacheConfig c;
  c.layers = {LayerKind::mamba2, LayerKind::mamba2};
  c.max_requests = slots;
  c.mamba2 = small_mamba2(slots);
  return c;
}

}  // namespace ssmkit::test
