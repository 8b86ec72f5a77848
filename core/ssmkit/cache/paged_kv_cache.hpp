#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ssmkit/cache/cache_config.hpp"
#include "ssmkit/cache/cache_storage.hpp"
#include "ssmkit/cache/page_manager.hpp"

namespace ssmkit {

class SnapshotReader;
class SnapshotWriter;

// KV cache in fixed-size pages (vLLM's PagedAttention, EasyDeL's PagedAttentionCache).
// Position p of a request lives in page page_table[p / page_size] at row p % page_size; a
// request's pages are allocated as its length crosses page boundaries. Growing is split
// from writing, as in an engine: the scheduler extends a request (which may fail), then
// every layer writes the new tokens' K and V. Pages live wherever `allocator` puts them;
// it must outlive the cache.
class PagedKVCache {
 public:
  explicit PagedKVCache(PagedKVCacheConfig config, StorageAllocator& allocator = host_storage());

  const PagedKVCacheConfig& config() const { return config_; }
  const PageManager& page_manager() const { return pages_; }

  // Grows `request` by `tokens` positions, allocating the pages that takes; an unknown
  // request starts empty. out_of_pages or sequence_full (past max_seq_len) leave
  // everything unchanged, an unknown request included.
  CacheStatus extend(RequestId request, std::int64_t tokens);
  // K and V of positions [first_position, first_position + n) of one layer, each
  // (n, kv_heads, head_dim); the positions must already be part of the request.
  void write(RequestId request, std::int64_t layer, std::int64_t first_position,
             const KeyValue& kv);
  // A new request's prompt, one KeyValue per layer: extend + write at position 0.
  CacheStatus prefill(RequestId request, std::span<const KeyValue> layers);
  // Decode tokens after the current end, one KeyValue per layer: extend + write.
  CacheStatus append(RequestId request, std::span<const KeyValue> layers);
  // Decode of a batch: row i of each layer's (batch, kv_heads, head_dim) K and V is the
  // next token of requests[i]. All rows are extended or none is.
  CacheStatus append_decode(std::span<const RequestId> requests, std::span<const KeyValue> layers);
  // K and V of every position of `request` in one layer, (length, kv_heads, head_dim).
  KeyValue gather(RequestId request, std::int64_t layer) const;
  void release(RequestId request);

  bool contains(RequestId request) const { return sequences_.contains(request); }
  std::int64_t length(RequestId request) const;
  std::span<const std::int64_t> page_table(RequestId request) const;
  std::vector<RequestId> requests() const;
  // (requests.size(), max_pages_per_sequence) page tables, padded with the dummy page:
  // EasyDeL's decodes_page_table.
  Tensor page_table_tensor(std::span<const RequestId> requests) const;

  // One layer's pages, (num_pages, page_size, kv_heads, head_dim), for kernels that
  // address them through page tables (page_table_tensor). A latent (MLA) cache has key
  // pages only, written and gathered through KeyValue::key; value_pages is an InputError.
  const CacheTensor& key_pages(std::int64_t layer) const;
  CacheTensor& key_pages(std::int64_t layer);
  const CacheTensor& value_pages(std::int64_t layer) const;
  CacheTensor& value_pages(std::int64_t layer);

  CacheUsage usage() const;
  StorageTensors storage() const;
  void save(SnapshotWriter& out) const;
  void restore(const SnapshotReader& in);

 private:
  struct Sequence {
    std::int64_t length = 0;
    std::vector<std::int64_t> pages;
  };
  const Sequence& sequence(const std::string& where, RequestId request) const;
  void check_layers(const std::string& where, std::span<const KeyValue> layers,
                    std::int64_t tokens) const;
  void write_token(std::int64_t layer, const Sequence& seq, std::int64_t position,
                   const KeyValue& kv, std::int64_t row);

  PagedKVCacheConfig config_;
  StorageAllocator* allocator_;
  PageManager pages_;
  std::map<RequestId, Sequence> sequences_;
  std::vector<CacheTensor> key_pages_, value_pages_;  // per layer (num_pages, page_size, H, D)
};

}  // namespace ssmkit
