#pragma once
#include <string>
#include <vector>

#include "ssmkit/tensor.hpp"

namespace ssmkit {

// The two copies of a paged KV cache (vLLM's PagedAttention). The cache is page-major,
// (num_pages, page_size, kv_heads, head_dim) per K and V, the layout of PagedKVCache and of
// vLLM's flash-attention blocks; token position p of a sequence lives at slot
// page_table[p / page_size] * page_size + p % page_size. Both ops are copies: a backend
// stores the cache in `input_dtype` and must reproduce every value exactly.

// Prefill and decode writes (vLLM's reshape_and_cache_flash): row t of key/value goes to
// slot slot_mapping[t]; a negative slot marks a padding token, which is skipped. Slots
// must be distinct and below num_pages * page_size.
struct PagedKvWriteParams {
  std::int64_t num_tokens = 0, num_pages = 0, page_size = 0, kv_heads = 0, head_dim = 0;
  DType input_dtype = DType::float32;  // of key/value and of the cache
  Tensor key, value;                   // (num_tokens, kv_heads, head_dim)
  Tensor key_cache, value_cache;       // (num_pages, page_size, kv_heads, head_dim)
  std::vector<std::int64_t> slot_mapping;  // (num_tokens)
};

struct PagedKvWriteResult {
  Tensor key_cache, value_cache;  // the input caches with the new rows written
};

// The contiguous K/V that attention without paging reads: sequence b's first seq_lens[b]
// positions through its page table, zeros from seq_lens[b] to max_len. Page-table entries
// past a sequence's last page are not read (engines pad them with anything).
struct PagedKvGatherParams {
  std::int64_t batch = 0, num_pages = 0, page_size = 0, kv_heads = 0, head_dim = 0;
  std::int64_t max_pages_per_seq = 0;
  std::int64_t max_len = 0;  // >= every seq_len; goldens default it to max(seq_lens)
  DType input_dtype = DType::float32;
  Tensor key_cache, value_cache;           // (num_pages, page_size, kv_heads, head_dim)
  std::vector<std::int64_t> block_tables;  // (batch, max_pages_per_seq), row-major
  std::vector<std::int64_t> seq_lens;      // (batch)
};

struct PagedKvGatherResult {
  Tensor key, value;  // (batch, max_len, kv_heads, head_dim)
};

// Every backend checks its parameters with these before touching memory: shapes against
// the sizes, and every index a kernel would follow. Bad input is an InputError at `where`
// naming the field (a slot out of range or repeated, a page outside the pool, a sequence
// longer than its page table or than max_len); nothing is written then. `prefix` goes
// before each field name ("inputs/" when the parameters come from a golden file).
void check_paged_kv_write(const PagedKvWriteParams& p, const std::string& where,
                          const std::string& prefix = "");
void check_paged_kv_gather(const PagedKvGatherParams& p, const std::string& where,
                           const std::string& prefix = "");

}  // namespace ssmkit
