#pragma once
#include "ssmkit/cache/cache_config.hpp"
#include "ssmkit/cache/conv_ssm_state_cache.hpp"

namespace ssmkit {

// Mamba1 states: per layer conv window (max_batch, intermediate_size, conv_kernel) and SSM
// state (max_batch, intermediate_size, d_state), the layout of HF's MambaCache and of
// selective_scan's last_state.
class MambaStateCache : public ConvSsmStateCache {
 public:
  explicit MambaStateCache(MambaCacheConfig config,
                           StorageAllocator& allocator = host_storage());

  const MambaCacheConfig& config() const { return config_; }
  CacheUsage usage() const;
  void save(SnapshotWriter& out) const;
  void restore(const SnapshotReader& in);

 private:
  MambaCacheConfig config_;
};

// Mamba2 states: per layer conv window (max_batch, intermediate_size + 2 * n_groups *
// d_state, conv_kernel) over x, B and C, and SSM state (max_batch, num_heads, head_dim,
// d_state), the layout of mamba_chunk_scan_combined's final_states.
class Mamba2StateCache : public ConvSsmStateCache {
 public:
  explicit Mamba2StateCache(Mamba2CacheConfig config,
                            StorageAllocator& allocator = host_storage());

  const Mamba2CacheConfig& config() const { return config_; }
  CacheUsage usage() const;
  void save(SnapshotWriter& out) const;
  void restore(const SnapshotReader& in);

 private:
  Mamba2CacheConfig config_;
};

// Gated DeltaNet / KDA states: per layer conv window (max_batch, 2 * H * K + HV * V,
// conv_kernel) over q|k|v, and recurrent state (max_batch, HV, K, V), the layout of
// flash-linear-attention's chunk_gated_delta_rule / chunk_kda final_state. The conv window
// and the state are the same slot-addressed pair as Mamba's, so the base class holds them.
class DeltaNetStateCache : public ConvSsmStateCache {
 public:
  explicit DeltaNetStateCache(DeltaNetCacheConfig config,
                              StorageAllocator& allocator = host_storage());

  const DeltaNetCacheConfig& config() const { return config_; }
  CacheUsage usage() const;
  void save(SnapshotWriter& out) const;
  void restore(const SnapshotReader& in);

 private:
  DeltaNetCacheConfig config_;
};

}  // namespace ssmkit
