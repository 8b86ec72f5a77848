#include "ssmkit/cache/linear_attention_state_cache.hpp"

#include <algorithm>
#include <utility>

#include "cache_util.hpp"
#include "ssmkit/cache/cache_snapshot.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {

LinearAttentionStateCache::LinearAttentionStateCache(LinearAttentionCacheConfig config,
                                                     StorageAllocator& allocator)
    : config_(cache_util::validated(std::move(config))),
      allocator_(&allocator),
      positions_(static_cast<std::size_t>(config_.max_batch), 0) {
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    states_.emplace_back("LinearAttentionStateCache " + cache_util::layer_name(layer) + " state",
                         config_.dtype, config_.max_batch,
                         Shape{config_.num_heads, config_.key_dim, config_.value_dim}, allocator);
  }
}

const SlottedTensor& LinearAttentionStateCache::layer_states(const std::string& where,
                                                             std::int64_t layer) const {
  cache_util::require_index("LinearAttentionStateCache::" + where, "layer", layer,
                            config_.num_layers);
  return states_[layer];
}

SlottedTensor& LinearAttentionStateCache::layer_states(const std::string& where,
                                                       std::int64_t layer) {
  return const_cast<SlottedTensor&>(std::as_const(*this).layer_states(where, layer));
}

Tensor LinearAttentionStateCache::state(std::int64_t layer, std::int64_t slot) const {
  return layer_states("state", layer).read(slot);
}

void LinearAttentionStateCache::set_state(std::int64_t layer, std::int64_t slot,
                                          const Tensor& state) {
  layer_states("set_state", layer).write(slot, state);
}

Tensor LinearAttentionStateCache::gather_states(std::int64_t layer,
                                                std::span<const std::int64_t> slots) const {
  return layer_states("gather_states", layer).gather(slots);
}

void LinearAttentionStateCache::scatter_states(std::int64_t layer,
                                               std::span<const std::int64_t> slots,
                                               const Tensor& states) {
  layer_states("scatter_states", layer).scatter(slots, states);
}

std::int64_t LinearAttentionStateCache::position(std::int64_t slot) const {
  cache_util::require_index("LinearAttentionStateCache::position", "slot", slot, config_.max_batch);
  return positions_[slot];
}

void LinearAttentionStateCache::advance_positions(std::span<const std::int64_t> slots,
                                                  std::int64_t tokens) {
  const std::string where = "LinearAttentionStateCache::advance_positions";
  cache_util::require_slots(where, slots, config_.max_batch);
  if (tokens < 0) throw InputError(where, "tokens", "non-negative, got " + std::to_string(tokens));
  for (const std::int64_t slot : slots) {
    if (slot != kPadSlot) positions_[slot] += tokens;
  }
}

void LinearAttentionStateCache::reset_slot(std::int64_t slot) {
  cache_util::require_index("LinearAttentionStateCache::reset_slot", "slot", slot,
                            config_.max_batch);
  for (auto& s : states_) s.zero(slot);
  positions_[slot] = 0;
}

void LinearAttentionStateCache::reset_all() {
  for (auto& s : states_) s.zero_all();
  std::fill(positions_.begin(), positions_.end(), 0);
}

const CacheTensor& LinearAttentionStateCache::state_storage(std::int64_t layer) const {
  return layer_states("state_storage", layer).storage();
}
CacheTensor& LinearAttentionStateCache::state_storage(std::int64_t layer) {
  return layer_states("state_storage", layer).storage();
}

CacheUsage LinearAttentionStateCache::usage() const {
  CacheUsage usage;
  usage.bytes_per_sequence = config_.bytes_per_sequence();
  usage.bytes_allocated = usage.bytes_per_sequence * static_cast<std::size_t>(config_.max_batch);
  return usage;
}

StorageTensors LinearAttentionStateCache::storage() const {
  StorageTensors named;
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    named.emplace_back(cache_util::layer_name(layer) + "/state", &states_[layer].storage());
  }
  return named;
}

void LinearAttentionStateCache::save(SnapshotWriter& out) const {
  for (const auto& [name, tensor] : storage()) out.tensor(name, *tensor);
  out.integers("positions", positions_);
  out.metadata(config_.metadata());
}

void LinearAttentionStateCache::restore(const SnapshotReader& in) {
  in.check_metadata(config_.metadata());
  LinearAttentionStateCache fresh(config_, *allocator_);
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    in.tensor_into(cache_util::layer_name(layer) + "/state", fresh.states_[layer].storage());
  }
  fresh.positions_ = in.integers("positions");
  if (fresh.positions_.size() != positions_.size() ||
      std::any_of(fresh.positions_.begin(), fresh.positions_.end(),
                  [](std::int64_t p) { return p < 0; })) {
    in.fail("positions",
            "a non-negative position per slot (" + std::to_string(config_.max_batch) + ")");
  }
  *this = std::move(fresh);
}

}  // namespace ssmkit
