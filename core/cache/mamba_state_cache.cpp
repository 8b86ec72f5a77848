#include "ssmkit/cache/mamba_state_cache.hpp"

#include "cache_util.hpp"
#include "ssmkit/cache/cache_snapshot.hpp"

namespace ssmkit {
namespace {

// Called on a validated config, before the base class sizes anything from it.
ConvSsmStateCache::Layout layout_of(const MambaCacheConfig& c) {
  return {.kind = "MambaStateCache",
          .num_layers = c.num_layers,
          .max_batch = c.max_batch,
          .conv_channels = c.intermediate_size,
          .conv_kernel = c.conv_kernel,
          .ssm_slot_shape = {c.intermediate_size, c.d_state},
          .conv_dtype = c.conv_dtype,
          .ssm_dtype = c.ssm_dtype};
}

ConvSsmStateCache::Layout layout_of(const Mamba2CacheConfig& c) {
  return {.kind = "Mamba2StateCache",
          .num_layers = c.num_layers,
          .max_batch = c.max_batch,
          .conv_channels = c.conv_channels(),
          .conv_kernel = c.conv_kernel,
          .ssm_slot_shape = {c.num_heads, c.head_dim, c.d_state},
          .conv_dtype = c.conv_dtype,
          .ssm_dtype = c.ssm_dtype};
}

ConvSsmStateCache::Layout layout_of(const DeltaNetCacheConfig& c) {
  return {.kind = "DeltaNetStateCache",
          .num_layers = c.num_layers,
          .max_batch = c.max_batch,
          .conv_channels = c.conv_channels(),
          .conv_kernel = c.conv_kernel,
          .ssm_slot_shape = {c.num_v_heads, c.head_k_dim, c.head_v_dim},
          .conv_dtype = c.conv_dtype,
          .ssm_dtype = c.state_dtype};
}

CacheUsage state_usage(std::size_t bytes_per_sequence, std::int64_t max_batch) {
  CacheUsage usage;
  usage.bytes_per_sequence = bytes_per_sequence;
  usage.bytes_allocated = bytes_per_sequence * static_cast<std::size_t>(max_batch);
  return usage;
}

}  // namespace

MambaStateCache::MambaStateCache(MambaCacheConfig config, StorageAllocator& allocator)
    : ConvSsmStateCache(layout_of(cache_util::validated(config)), allocator),
      config_(std::move(config)) {}

CacheUsage MambaStateCache::usage() const {
  return state_usage(config_.bytes_per_sequence(), config_.max_batch);
}

void MambaStateCache::save(SnapshotWriter& out) const {
  save_state(out);
  out.metadata(config_.metadata());
}

void MambaStateCache::restore(const SnapshotReader& in) {
  in.check_metadata(config_.metadata());
  MambaStateCache fresh(config_, allocator());
  fresh.restore_state(in);
  *this = std::move(fresh);
}

Mamba2StateCache::Mamba2StateCache(Mamba2CacheConfig config, StorageAllocator& allocator)
    : ConvSsmStateCache(layout_of(cache_util::validated(config)), allocator),
      config_(std::move(config)) {}

CacheUsage Mamba2StateCache::usage() const {
  return state_usage(config_.bytes_per_sequence(), config_.max_batch);
}

void Mamba2StateCache::save(SnapshotWriter& out) const {
  save_state(out);
  out.metadata(config_.metadata());
}

void Mamba2StateCache::restore(const SnapshotReader& in) {
  in.check_metadata(config_.metadata());
  Mamba2StateCache fresh(config_, allocator());
  fresh.restore_state(in);
  *this = std::move(fresh);
}

DeltaNetStateCache::DeltaNetStateCache(DeltaNetCacheConfig config, StorageAllocator& allocator)
    : ConvSsmStateCache(layout_of(cache_util::validated(config)), allocator),
      config_(std::move(config)) {}

CacheUsage DeltaNetStateCache::usage() const {
  return state_usage(config_.bytes_per_sequence(), config_.max_batch);
}

void DeltaNetStateCache::save(SnapshotWriter& out) const {
  save_state(out);
  out.metadata(config_.metadata());
}

void DeltaNetStateCache::restore(const SnapshotReader& in) {
  in.check_metadata(config_.metadata());
  DeltaNetStateCache fresh(config_, allocator());
  fresh.restore_state(in);
  *this = std::move(fresh);
}

}  // namespace ssmkit
