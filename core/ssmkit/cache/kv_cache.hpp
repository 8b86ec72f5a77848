#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ssmkit/cache/cache_config.hpp"
#include "ssmkit/cache/cache_storage.hpp"

namespace ssmkit {

class SnapshotReader;
class SnapshotWriter;

// Contiguous KV cache (EasyDeL's TransformerCache, HF's StaticCache): every slot reserves
// max_len positions in every layer. Per slot, `write_index` is the next position to write
// and `start` the first real token (positions before it are a left-padded prompt's
// padding, which attention masks out). Storage comes from `allocator`, which must outlive
// the cache.
class KVCache {
 public:
  explicit KVCache(KVCacheConfig config, StorageAllocator& allocator = host_storage());

  const KVCacheConfig& config() const { return config_; }

  // Replaces the slot's content with a prefilled sequence, one KeyValue of
  // (tokens, kv_heads, head_dim) per layer; start in [0, tokens]. sequence_full (longer
  // than max_len) leaves the slot unchanged.
  CacheStatus insert(std::int64_t slot, std::span<const KeyValue> layers, std::int64_t start = 0);
  // Tokens after the slot's current end, one KeyValue per layer.
  CacheStatus append(std::int64_t slot, std::span<const KeyValue> layers);
  // One decode token per batch row: row i of each layer's (batch, kv_heads, head_dim) K and
  // V goes to slots[i]; kPadSlot rows are skipped. All rows are written or none is.
  CacheStatus append_decode(std::span<const std::int64_t> slots, std::span<const KeyValue> layers);
  void reset(std::int64_t slot);  // zeros, write_index = start = 0
  // Positions [0, write_index) of one layer, each (write_index, kv_heads, head_dim).
  KeyValue read(std::int64_t slot, std::int64_t layer) const;

  std::int64_t write_index(std::int64_t slot) const;
  std::int64_t start(std::int64_t slot) const;

  // One layer's storage, (max_batch, max_len, kv_heads, head_dim), for kernels.
  const CacheTensor& key_storage(std::int64_t layer) const;
  CacheTensor& key_storage(std::int64_t layer);
  const CacheTensor& value_storage(std::int64_t layer) const;
  CacheTensor& value_storage(std::int64_t layer);

  CacheUsage usage() const;
  StorageTensors storage() const;
  void save(SnapshotWriter& out) const;
  void restore(const SnapshotReader& in);

 private:
  void check_layers(const std::string& where, std::span<const KeyValue> layers,
                    std::int64_t tokens) const;
  void write_rows(std::int64_t slot, std::int64_t first_position, const KeyValue& kv,
                  std::int64_t first_row, std::int64_t rows, std::int64_t layer);

  KVCacheConfig config_;
  StorageAllocator* allocator_;
  std::vector<CacheTensor> keys_, values_;  // per layer (max_batch, max_len, kv_heads, head_dim)
  std::vector<std::int64_t> write_index_, start_;
};

}  // namespace ssmkit
