#include "ssmkit/cache/kv_cache.hpp"

#include "cache_util.hpp"
#include "ssmkit/cache/cache_snapshot.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {
namespace {

// Tokens in a step's K/V (checked against every layer afterwards).
std::int64_t tokens_of(std::span<const KeyValue> layers) {
  return !layers.empty() && layers[0].key.defined() && layers[0].key.rank() == 3
             ? layers[0].key.dim(0)
             : 0;
}

}  // namespace

KVCache::KVCache(KVCacheConfig config, StorageAllocator& allocator)
    : config_(cache_util::validated(std::move(config))),
      allocator_(&allocator),
      write_index_(static_cast<std::size_t>(config_.max_batch), 0),
      start_(static_cast<std::size_t>(config_.max_batch), 0) {
  const Shape shape{config_.max_batch, config_.max_len, config_.kv_heads, config_.head_dim};
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    keys_.emplace_back(allocator, config_.dtype, shape);
    values_.emplace_back(allocator, config_.dtype, shape);
  }
}

void KVCache::check_layers(const std::string& where, std::span<const KeyValue> layers,
                           std::int64_t tokens) const {
  if (static_cast<std::int64_t>(layers.size()) != config_.num_layers) {
    throw InputError(where, "layers",
                     "one KeyValue per layer (" + std::to_string(config_.num_layers) + "), got " +
                         std::to_string(layers.size()));
  }
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string field = "layers[" + std::to_string(i) + "]";
    cache_util::require_shape(where, field + ".key", layers[i].key,
                              {tokens, config_.kv_heads, config_.head_dim});
    cache_util::require_shape(where, field + ".value", layers[i].value,
                              {tokens, config_.kv_heads, config_.head_dim});
  }
}

void KVCache::write_rows(std::int64_t slot, std::int64_t first_position, const KeyValue& kv,
                         std::int64_t first_row, std::int64_t rows, std::int64_t layer) {
  const std::int64_t row_elements = config_.kv_heads * config_.head_dim;
  const std::int64_t dst = (slot * config_.max_len + first_position) * row_elements;
  cache_util::store_elements(kv.key, first_row * row_elements, keys_[layer], dst,
                             rows * row_elements);
  cache_util::store_elements(kv.value, first_row * row_elements, values_[layer], dst,
                             rows * row_elements);
}

CacheStatus KVCache::insert(std::int64_t slot, std::span<const KeyValue> layers,
                            std::int64_t start) {
  const std::string where = "KVCache::insert";
  cache_util::require_index(where, "slot", slot, config_.max_batch);
  const std::int64_t n = tokens_of(layers);
  check_layers(where, layers, n);
  if (start < 0 || start > n) {
    throw InputError(where, "start",
                     "in [0, " + std::to_string(n) + "], got " + std::to_string(start));
  }
  if (n > config_.max_len) return CacheStatus::sequence_full;
  reset(slot);
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    write_rows(slot, 0, layers[layer], 0, n, layer);
  }
  write_index_[slot] = n;
  start_[slot] = start;
  return CacheStatus::ok;
}

CacheStatus KVCache::append(std::int64_t slot, std::span<const KeyValue> layers) {
  const std::string where = "KVCache::append";
  cache_util::require_index(where, "slot", slot, config_.max_batch);
  const std::int64_t n = tokens_of(layers);
  check_layers(where, layers, n);
  if (write_index_[slot] + n > config_.max_len) return CacheStatus::sequence_full;
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    write_rows(slot, write_index_[slot], layers[layer], 0, n, layer);
  }
  write_index_[slot] += n;
  return CacheStatus::ok;
}

CacheStatus KVCache::append_decode(std::span<const std::int64_t> slots,
                                   std::span<const KeyValue> layers) {
  const std::string where = "KVCache::append_decode";
  cache_util::require_slots(where, slots, config_.max_batch);
  check_layers(where, layers, static_cast<std::int64_t>(slots.size()));
  for (const std::int64_t slot : slots) {
    if (slot != kPadSlot && write_index_[slot] >= config_.max_len) {
      return CacheStatus::sequence_full;
    }
  }
  for (std::size_t row = 0; row < slots.size(); ++row) {
    const std::int64_t slot = slots[row];
    if (slot == kPadSlot) continue;
    for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
      write_rows(slot, write_index_[slot], layers[layer], static_cast<std::int64_t>(row), 1, layer);
    }
    ++write_index_[slot];
  }
  return CacheStatus::ok;
}

void KVCache::reset(std::int64_t slot) {
  cache_util::require_index("KVCache::reset", "slot", slot, config_.max_batch);
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    keys_[layer].zero_rows(slot, 1);
    values_[layer].zero_rows(slot, 1);
  }
  write_index_[slot] = 0;
  start_[slot] = 0;
}

KeyValue KVCache::read(std::int64_t slot, std::int64_t layer) const {
  const std::string where = "KVCache::read";
  cache_util::require_index(where, "slot", slot, config_.max_batch);
  cache_util::require_index(where, "layer", layer, config_.num_layers);
  const std::int64_t n = write_index_[slot];
  const std::int64_t row_elements = config_.kv_heads * config_.head_dim;
  const Shape shape{n, config_.kv_heads, config_.head_dim};
  KeyValue out{Tensor(config_.dtype, shape), Tensor(config_.dtype, shape)};
  const std::int64_t src = slot * config_.max_len * row_elements;
  keys_[layer].read_elements(src, n * row_elements, out.key, 0);
  values_[layer].read_elements(src, n * row_elements, out.value, 0);
  return out;
}

std::int64_t KVCache::write_index(std::int64_t slot) const {
  cache_util::require_index("KVCache::write_index", "slot", slot, config_.max_batch);
  return write_index_[slot];
}

std::int64_t KVCache::start(std::int64_t slot) const {
  cache_util::require_index("KVCache::start", "slot", slot, config_.max_batch);
  return start_[slot];
}

const CacheTensor& KVCache::key_storage(std::int64_t layer) const {
  cache_util::require_index("KVCache::key_storage", "layer", layer, config_.num_layers);
  return keys_[layer];
}
CacheTensor& KVCache::key_storage(std::int64_t layer) {
  cache_util::require_index("KVCache::key_storage", "layer", layer, config_.num_layers);
  return keys_[layer];
}
const CacheTensor& KVCache::value_storage(std::int64_t layer) const {
  cache_util::require_index("KVCache::value_storage", "layer", layer, config_.num_layers);
  return values_[layer];
}
CacheTensor& KVCache::value_storage(std::int64_t layer) {
  cache_util::require_index("KVCache::value_storage", "layer", layer, config_.num_layers);
  return values_[layer];
}

CacheUsage KVCache::usage() const {
  CacheUsage usage;
  usage.bytes_per_token = config_.bytes_per_token();
  usage.bytes_allocated =
      static_cast<std::size_t>(config_.max_batch * config_.max_len) * usage.bytes_per_token;
  return usage;
}

StorageTensors KVCache::storage() const {
  StorageTensors named;
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    named.emplace_back(cache_util::layer_name(layer) + "/key", &keys_[layer]);
    named.emplace_back(cache_util::layer_name(layer) + "/value", &values_[layer]);
  }
  return named;
}

void KVCache::save(SnapshotWriter& out) const {
  for (const auto& [name, tensor] : storage()) out.tensor(name, *tensor);
  out.integers("write_index", write_index_);
  out.integers("start", start_);
  out.metadata(config_.metadata());
}

void KVCache::restore(const SnapshotReader& in) {
  in.check_metadata(config_.metadata());
  KVCache fresh(config_, *allocator_);
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    in.tensor_into(cache_util::layer_name(layer) + "/key", fresh.keys_[layer]);
    in.tensor_into(cache_util::layer_name(layer) + "/value", fresh.values_[layer]);
  }
  fresh.write_index_ = in.integers("write_index");
  fresh.start_ = in.integers("start");
  const auto slots = static_cast<std::size_t>(config_.max_batch);
  if (fresh.write_index_.size() != slots || fresh.start_.size() != slots) {
    in.fail("write_index", "one write index and one start per slot");
  }
  for (std::size_t slot = 0; slot < slots; ++slot) {
    if (fresh.start_[slot] < 0 || fresh.start_[slot] > fresh.write_index_[slot] ||
        fresh.write_index_[slot] > config_.max_len) {
      in.fail("write_index", "0 <= start <= write_index <= max_len for every slot");
    }
  }
  *this = std::move(fresh);
}

}  // namespace ssmkit
