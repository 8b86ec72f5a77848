#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "ssmkit/cache/cache_config.hpp"
#include "ssmkit/cache/slotted_tensor.hpp"

namespace ssmkit {

class SnapshotReader;
class SnapshotWriter;

// Lightning-attention states (MiniMax-01, EasyDeL's LightningCache): per layer the running
// sum S = sum_t decay^(T-t) k_t^T v_t, (max_batch, num_heads, key_dim, value_dim), the
// layout of lightning_attention's initial_state and final_state. Storage comes from
// `allocator`, which must outlive the cache.
class LinearAttentionStateCache {
 public:
  explicit LinearAttentionStateCache(LinearAttentionCacheConfig config,
                                     StorageAllocator& allocator = host_storage());

  const LinearAttentionCacheConfig& config() const { return config_; }

  Tensor state(std::int64_t layer, std::int64_t slot) const;  // (heads, key_dim, value_dim)
  void set_state(std::int64_t layer, std::int64_t slot, const Tensor& state);
  Tensor gather_states(std::int64_t layer, std::span<const std::int64_t> slots) const;
  void scatter_states(std::int64_t layer, std::span<const std::int64_t> slots,
                      const Tensor& states);

  std::int64_t position(std::int64_t slot) const;
  void advance_positions(std::span<const std::int64_t> slots, std::int64_t tokens);
  void reset_slot(std::int64_t slot);
  void reset_all();

  // One layer's states, (max_batch, num_heads, key_dim, value_dim), for kernels.
  const CacheTensor& state_storage(std::int64_t layer) const;
  CacheTensor& state_storage(std::int64_t layer);

  CacheUsage usage() const;
  StorageTensors storage() const;
  void save(SnapshotWriter& out) const;
  void restore(const SnapshotReader& in);

 private:
  const SlottedTensor& layer_states(const std::string& where, std::int64_t layer) const;
  SlottedTensor& layer_states(const std::string& where, std::int64_t layer);

  LinearAttentionCacheConfig config_;
  StorageAllocator* allocator_;
  std::vector<SlottedTensor> states_;
  std::vector<std::int64_t> positions_;
};

}  // namespace ssmkit
