#include "ssmkit/cache/hybrid_cache.hpp"

#include <algorithm>
#include <stdexcept>

#include "cache_util.hpp"
#include "ssmkit/cache/cache_snapshot.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {
namespace {

std::int64_t count_of(const std::vector<LayerKind>& layers, LayerKind kind) {
  return std::count(layers.begin(), layers.end(), kind);
}

// Checks that a kind has a config exactly when the layout uses it, sized to match.
template <class Config>
void check_part(const HybridCacheConfig& c, LayerKind kind, const std::optional<Config>& part) {
  const std::string where = "HybridCacheConfig";
  const std::string name(layer_kind_name(kind));
  const std::int64_t count = count_of(c.layers, kind);
  if (count > 0 && !part) {
    throw InputError(
        where, name,
        "a config for the " + std::to_string(count) + " " + name + " layer(s) of the layout");
  }
  if (count == 0 && part) {
    throw InputError(where, name, "no config: the layout has no " + name + " layers");
  }
  if (!part) return;
  part->validate();
  if (part->num_layers != count) {
    throw InputError(where, name + ".num_layers",
                     "the layout's " + std::to_string(count) + " " + name + " layer(s), got " +
                         std::to_string(part->num_layers));
  }
  if constexpr (requires { part->max_batch; }) {
    if (part->max_batch != c.max_requests) {
      throw InputError(where, name + ".max_batch",
                       "max_requests (" + std::to_string(c.max_requests) + "), got " +
                           std::to_string(part->max_batch));
    }
  }
}

void add(CacheUsage& total, const CacheUsage& part) {
  total.bytes_allocated += part.bytes_allocated;
  total.bytes_per_sequence += part.bytes_per_sequence;
  total.bytes_per_token += part.bytes_per_token;
  total.pages_in_use += part.pages_in_use;
  total.pages_free += part.pages_free;
}

void append_prefixed(StorageTensors& all, const std::string& prefix, const StorageTensors& part) {
  for (const auto& [name, tensor] : part) all.emplace_back(prefix + "/" + name, tensor);
}

// Works for const and non-const parts alike.
template <class OptionalPart>
auto& require_part(OptionalPart& part, LayerKind kind) {
  if (!part) {
    throw InputError("HybridCache", std::string(layer_kind_name(kind)),
                     "a kind of layer the layout has; it has none");
  }
  return *part;
}

}  // namespace

std::string_view layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::attention: return "attention";
    case LayerKind::mamba: return "mamba";
    case LayerKind::mamba2: return "mamba2";
    case LayerKind::linear_attention: return "linear_attention";
    case LayerKind::gated_delta_net: return "gated_delta_net";
    case LayerKind::kda: return "kda";
    case LayerKind::mla: return "mla";
  }
  return "unknown";
}

std::optional<LayerKind> parse_layer_kind(std::string_view name) {
  for (const LayerKind kind : kLayerKinds) {
    if (layer_kind_name(kind) == name) return kind;
  }
  return std::nullopt;
}

void HybridCacheConfig::validate() const {
  if (layers.empty()) throw InputError("HybridCacheConfig", "layers", "at least one layer");
  cache_util::require_positive("HybridCacheConfig", "max_requests", max_requests);
  check_part(*this, LayerKind::attention, attention);
  check_part(*this, LayerKind::mamba, mamba);
  check_part(*this, LayerKind::mamba2, mamba2);
  check_part(*this, LayerKind::linear_attention, linear_attention);
  check_part(*this, LayerKind::gated_delta_net, gated_delta_net);
  check_part(*this, LayerKind::kda, kda);
  check_part(*this, LayerKind::mla, mla);
  if (attention && attention->latent) {
    throw InputError("HybridCacheConfig", "attention.latent", "false: attention keeps K and V");
  }
  if (mla && !mla->latent) {
    throw InputError("HybridCacheConfig", "mla.latent", "true: MLA keeps one latent row per token");
  }
  if (attention && mla) {
    throw InputError("HybridCacheConfig", "mla",
                     "a layout with attention or MLA layers, not both (one paged pool per cache)");
  }
}

const PagedKVCacheConfig* HybridCacheConfig::kv_pool() const {
  return attention ? &*attention : mla ? &*mla : nullptr;
}

PagedKVCacheConfig* HybridCacheConfig::kv_pool() {
  return attention ? &*attention : mla ? &*mla : nullptr;
}

CacheMetadata HybridCacheConfig::metadata() const {
  std::string layout;
  for (const LayerKind kind : layers) {
    layout += (layout.empty() ? "" : ",") + std::string(layer_kind_name(kind));
  }
  return {{"cache_kind", std::string("hybrid_cache")},
          {"layers", layout},
          {"max_requests", std::vector<double>{static_cast<double>(max_requests)}}};
}

HybridCache::HybridCache(HybridCacheConfig config, StorageAllocator& allocator)
    : config_(cache_util::validated(std::move(config))),
      allocator_(&allocator),
      slots_(config_.max_requests) {
  if (config_.attention) attention_.emplace(*config_.attention, allocator);
  if (config_.mamba) mamba_.emplace(*config_.mamba, allocator);
  if (config_.mamba2) mamba2_.emplace(*config_.mamba2, allocator);
  if (config_.linear_attention) linear_attention_.emplace(*config_.linear_attention, allocator);
  if (config_.gated_delta_net) gated_delta_net_.emplace(*config_.gated_delta_net, allocator);
  if (config_.kda) kda_.emplace(*config_.kda, allocator);
  if (config_.mla) mla_.emplace(*config_.mla, allocator);
  std::map<LayerKind, std::int64_t> seen;
  for (const LayerKind kind : config_.layers) cache_layer_.push_back(seen[kind]++);
}

void HybridCache::require_storage(const char* what) const {
  if (!holds_data()) {
    throw std::logic_error(std::string("HybridCache::") + what + ": this cache's storage is " +
                           storage_location() + ", it holds no contents");
  }
}

void HybridCache::reset_states(std::int64_t slot) {
  if (!holds_data()) return;  // nothing to zero
  if (mamba_) mamba_->reset_slot(slot);
  if (mamba2_) mamba2_->reset_slot(slot);
  if (linear_attention_) linear_attention_->reset_slot(slot);
  if (gated_delta_net_) gated_delta_net_->reset_slot(slot);
  if (kda_) kda_->reset_slot(slot);
}

PagedKVCache* HybridCache::pool() {
  return attention_ ? &*attention_ : mla_ ? &*mla_ : nullptr;
}

const PagedKVCache* HybridCache::pool() const {
  return attention_ ? &*attention_ : mla_ ? &*mla_ : nullptr;
}

void HybridCache::advance_states(std::int64_t slot, std::int64_t tokens) {
  const std::int64_t slots[] = {slot};
  if (mamba_) mamba_->advance_positions(slots, tokens);
  if (mamba2_) mamba2_->advance_positions(slots, tokens);
  if (linear_attention_) linear_attention_->advance_positions(slots, tokens);
  if (gated_delta_net_) gated_delta_net_->advance_positions(slots, tokens);
  if (kda_) kda_->advance_positions(slots, tokens);
}

HybridCache::Admission HybridCache::admit(RequestId request, std::int64_t prompt_tokens) {
  const std::string where = "HybridCache::admit";
  if (contains(request)) {
    throw InputError(where, "request",
                     "a request not yet admitted; request " + std::to_string(request) + " is");
  }
  if (prompt_tokens < 0) {
    throw InputError(where, "prompt_tokens", "non-negative, got " + std::to_string(prompt_tokens));
  }
  const auto slot = slots_.admit(request);
  if (!slot) return {CacheStatus::out_of_slots};
  if (PagedKVCache* kv = pool()) {
    if (const CacheStatus status = kv->extend(request, prompt_tokens);
        status != CacheStatus::ok) {
      slots_.release(request);
      return {status};
    }
  }
  reset_states(*slot);
  advance_states(*slot, prompt_tokens);
  lengths_[request] = prompt_tokens;
  return {CacheStatus::ok, *slot};
}

CacheStatus HybridCache::extend(RequestId request, std::int64_t tokens) {
  const std::string where = "HybridCache::extend";
  const std::int64_t current = length(request);
  if (tokens < 0) throw InputError(where, "tokens", "non-negative, got " + std::to_string(tokens));
  if (PagedKVCache* kv = pool()) {
    if (const CacheStatus status = kv->extend(request, tokens); status != CacheStatus::ok) {
      return status;
    }
  }
  advance_states(slots_.slot_of(request), tokens);
  lengths_[request] = current + tokens;
  return CacheStatus::ok;
}

void HybridCache::release(RequestId request) {
  length(request);  // unknown requests are an InputError before anything changes
  if (PagedKVCache* kv = pool()) kv->release(request);
  slots_.release(request);
  lengths_.erase(request);
}

std::int64_t HybridCache::length(RequestId request) const {
  const auto it = lengths_.find(request);
  if (it == lengths_.end()) {
    throw InputError("HybridCache", "request",
                     "an admitted request, got unknown request " + std::to_string(request));
  }
  return it->second;
}

LayerKind HybridCache::layer_kind(std::int64_t layer) const {
  cache_util::require_index("HybridCache::layer_kind", "layer", layer, num_layers());
  return config_.layers[layer];
}

std::int64_t HybridCache::cache_layer(std::int64_t layer) const {
  cache_util::require_index("HybridCache::cache_layer", "layer", layer, num_layers());
  return cache_layer_[layer];
}

PagedKVCache& HybridCache::attention() {
  require_storage("attention");
  return require_part(attention_, LayerKind::attention);
}
const PagedKVCache& HybridCache::attention() const {
  require_storage("attention");
  return require_part(attention_, LayerKind::attention);
}
MambaStateCache& HybridCache::mamba() {
  require_storage("mamba");
  return require_part(mamba_, LayerKind::mamba);
}
const MambaStateCache& HybridCache::mamba() const {
  require_storage("mamba");
  return require_part(mamba_, LayerKind::mamba);
}
Mamba2StateCache& HybridCache::mamba2() {
  require_storage("mamba2");
  return require_part(mamba2_, LayerKind::mamba2);
}
const Mamba2StateCache& HybridCache::mamba2() const {
  require_storage("mamba2");
  return require_part(mamba2_, LayerKind::mamba2);
}
LinearAttentionStateCache& HybridCache::linear_attention() {
  require_storage("linear_attention");
  return require_part(linear_attention_, LayerKind::linear_attention);
}
const LinearAttentionStateCache& HybridCache::linear_attention() const {
  require_storage("linear_attention");
  return require_part(linear_attention_, LayerKind::linear_attention);
}
DeltaNetStateCache& HybridCache::gated_delta_net() {
  require_storage("gated_delta_net");
  return require_part(gated_delta_net_, LayerKind::gated_delta_net);
}
const DeltaNetStateCache& HybridCache::gated_delta_net() const {
  require_storage("gated_delta_net");
  return require_part(gated_delta_net_, LayerKind::gated_delta_net);
}
DeltaNetStateCache& HybridCache::kda() {
  require_storage("kda");
  return require_part(kda_, LayerKind::kda);
}
const DeltaNetStateCache& HybridCache::kda() const {
  require_storage("kda");
  return require_part(kda_, LayerKind::kda);
}
PagedKVCache& HybridCache::mla() {
  require_storage("mla");
  return require_part(mla_, LayerKind::mla);
}
const PagedKVCache& HybridCache::mla() const {
  require_storage("mla");
  return require_part(mla_, LayerKind::mla);
}

CacheUsage HybridCache::usage() const {
  CacheUsage total;
  if (attention_) add(total, attention_->usage());
  if (mamba_) add(total, mamba_->usage());
  if (mamba2_) add(total, mamba2_->usage());
  if (linear_attention_) add(total, linear_attention_->usage());
  if (gated_delta_net_) add(total, gated_delta_net_->usage());
  if (kda_) add(total, kda_->usage());
  if (mla_) add(total, mla_->usage());
  return total;
}

StorageTensors HybridCache::storage() const {
  require_storage("storage");
  StorageTensors all;
  if (attention_) append_prefixed(all, "attention", attention_->storage());
  if (mamba_) append_prefixed(all, "mamba", mamba_->storage());
  if (mamba2_) append_prefixed(all, "mamba2", mamba2_->storage());
  if (linear_attention_) append_prefixed(all, "linear_attention", linear_attention_->storage());
  if (gated_delta_net_) append_prefixed(all, "gated_delta_net", gated_delta_net_->storage());
  if (kda_) append_prefixed(all, "kda", kda_->storage());
  if (mla_) append_prefixed(all, "mla", mla_->storage());
  return all;
}

void HybridCache::save(SnapshotWriter& out) const {
  require_storage("save");
  auto save_part = [&out](const auto& part, LayerKind kind) {
    if (!part) return;
    SnapshotWriter group = out.subgroup(std::string(layer_kind_name(kind)));
    part->save(group);
  };
  SnapshotWriter slots = out.subgroup("slots");
  slots_.save(slots);
  save_part(attention_, LayerKind::attention);
  save_part(mamba_, LayerKind::mamba);
  save_part(mamba2_, LayerKind::mamba2);
  save_part(linear_attention_, LayerKind::linear_attention);
  save_part(gated_delta_net_, LayerKind::gated_delta_net);
  save_part(kda_, LayerKind::kda);
  save_part(mla_, LayerKind::mla);
  std::vector<std::int64_t> requests, lengths;
  for (const auto& [request, length] : lengths_) {
    requests.push_back(static_cast<std::int64_t>(request));
    lengths.push_back(length);
  }
  out.integers("requests", requests);
  out.integers("lengths", lengths);
  out.metadata(config_.metadata());
}

void HybridCache::restore(const SnapshotReader& in) {
  require_storage("restore");
  in.check_metadata(config_.metadata());
  HybridCache fresh(config_, *allocator_);
  auto restore_part = [&in](auto& part, LayerKind kind) {
    if (part) part->restore(in.subgroup(std::string(layer_kind_name(kind))));
  };
  fresh.slots_.restore(in.subgroup("slots"));
  restore_part(fresh.attention_, LayerKind::attention);
  restore_part(fresh.mamba_, LayerKind::mamba);
  restore_part(fresh.mamba2_, LayerKind::mamba2);
  restore_part(fresh.linear_attention_, LayerKind::linear_attention);
  restore_part(fresh.gated_delta_net_, LayerKind::gated_delta_net);
  restore_part(fresh.kda_, LayerKind::kda);
  restore_part(fresh.mla_, LayerKind::mla);
  const PagedKVCache* kv = fresh.pool();
  const auto requests = in.integers("requests");
  const auto lengths = in.integers("lengths");
  if (lengths.size() != requests.size()) in.fail("lengths", "one length per request");
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto request = static_cast<RequestId>(requests[i]);
    const bool consistent =
        fresh.slots_.contains(request) &&
        (!kv || (kv->contains(request) && kv->length(request) == lengths[i]));
    if (!consistent) {
      in.fail("requests", "requests holding a slot and, with attention layers, pages for their "
                          "length; request " + std::to_string(request) + " does not");
    }
    fresh.lengths_.emplace(request, lengths[i]);
  }
  if (fresh.slots_.slots_in_use() != static_cast<std::int64_t>(fresh.lengths_.size()) ||
      (kv && kv->requests().size() != fresh.lengths_.size())) {
    in.fail("requests", "the same requests in the slot pool, the page tables and the lengths");
  }
  *this = std::move(fresh);
}

}  // namespace ssmkit
