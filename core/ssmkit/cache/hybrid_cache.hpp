#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ssmkit/cache/cache_config.hpp"
#include "ssmkit/cache/cache_storage.hpp"
#include "ssmkit/cache/linear_attention_state_cache.hpp"
#include "ssmkit/cache/mamba_state_cache.hpp"
#include "ssmkit/cache/paged_kv_cache.hpp"
#include "ssmkit/cache/state_slot_pool.hpp"

namespace ssmkit {

// gated_delta_net: Gated DeltaNet (Qwen3-Next's and Qwen3.5's "linear_attention" layers);
// kda: Kimi Delta Attention (Kimi-Linear); mla: multi-head latent attention (Kimi-Linear's
// full-attention layers), whose paged cache holds one latent row per token.
enum class LayerKind { attention, mamba, mamba2, linear_attention, gated_delta_net, kda, mla };

// Every kind, in declaration order (the order reports list them in).
inline constexpr LayerKind kLayerKinds[] = {
    LayerKind::attention,       LayerKind::mamba, LayerKind::mamba2, LayerKind::linear_attention,
    LayerKind::gated_delta_net, LayerKind::kda,   LayerKind::mla};

std::string_view layer_kind_name(LayerKind kind);
std::optional<LayerKind> parse_layer_kind(std::string_view name);

// A hybrid model's layout and the configuration of each kind of cache it needs
// (Jamba, Zamba, Nemotron-H, MiniMax-01 interleave attention with Mamba or linear layers).
struct HybridCacheConfig {
  std::vector<LayerKind> layers;  // the model's layers, in order
  std::int64_t max_requests = 0;  // requests in flight: the state caches' slots
  // Exactly the kinds present in `layers` have a config; its num_layers counts that kind's
  // layers, and a state cache's max_batch equals max_requests.
  std::optional<PagedKVCacheConfig> attention;
  std::optional<MambaCacheConfig> mamba;
  std::optional<Mamba2CacheConfig> mamba2;
  std::optional<LinearAttentionCacheConfig> linear_attention;
  std::optional<DeltaNetCacheConfig> gated_delta_net;
  std::optional<DeltaNetCacheConfig> kda;
  // MLA's latent pool (latent = true). A layout has attention or MLA layers, not both: the
  // cache keeps one paged pool.
  std::optional<PagedKVCacheConfig> mla;

  void validate() const;
  // The paged pool, attention's or MLA's; nullptr for a layout without one.
  const PagedKVCacheConfig* kv_pool() const;
  PagedKVCacheConfig* kv_pool();
  CacheMetadata metadata() const;  // the layout; each part's config sits in its group
};

// One cache for a whole hybrid model, behind one request lifecycle: admit (a state slot,
// zeroed, and the pages of the prompt), extend (pages for more tokens), release (all of it
// back). Each of these either completes or changes nothing. Layer l's states live in the
// cache of its kind, at index cache_layer(l): after admit or extend, a step writes the new
// tokens' K and V with attention().write(request, cache_layer(l), first_position, kv) and
// the states through mamba2() etc. at slot_of(request). Growing and releasing go through
// HybridCache only, so that pages, slots and lengths stay in step.
//
// Every part allocates its storage from the one StorageAllocator given at construction
// (host memory by default, a backend's device memory through Backend::storage_allocator()),
// which must outlive the cache. With OmittedStorage the cache keeps the same bookkeeping
// (slots, pages, lengths, usage) but its storage holds nothing: for accounting-only replays.
// Such a cache has no contents: its per-kind caches, storage(), save() and restore() are a
// std::logic_error.
class HybridCache {
 public:
  explicit HybridCache(HybridCacheConfig config, StorageAllocator& allocator = host_storage());

  const HybridCacheConfig& config() const { return config_; }
  // The allocator's location: "host memory", "CUDA device 0 (...)", "omitted (...)".
  std::string storage_location() const { return allocator_->location(); }
  bool holds_data() const { return allocator_->holds_data(); }

  struct [[nodiscard]] Admission {
    CacheStatus status = CacheStatus::ok;
    std::int64_t slot = kPadSlot;  // the request's state slot when status is ok
  };
  Admission admit(RequestId request, std::int64_t prompt_tokens);
  CacheStatus extend(RequestId request, std::int64_t tokens);
  void release(RequestId request);

  bool contains(RequestId request) const { return lengths_.contains(request); }
  std::int64_t slot_of(RequestId request) const { return slots_.slot_of(request); }
  std::int64_t length(RequestId request) const;
  std::vector<std::int64_t> batch_slots(std::span<const std::optional<RequestId>> batch) const {
    return slots_.batch_slots(batch);
  }

  std::int64_t num_layers() const { return static_cast<std::int64_t>(config_.layers.size()); }
  LayerKind layer_kind(std::int64_t layer) const;
  std::int64_t cache_layer(std::int64_t layer) const;

  // The cache of one kind; asking for a kind the layout lacks is an InputError.
  PagedKVCache& attention();
  const PagedKVCache& attention() const;
  MambaStateCache& mamba();
  const MambaStateCache& mamba() const;
  Mamba2StateCache& mamba2();
  const Mamba2StateCache& mamba2() const;
  LinearAttentionStateCache& linear_attention();
  const LinearAttentionStateCache& linear_attention() const;
  DeltaNetStateCache& gated_delta_net();
  const DeltaNetStateCache& gated_delta_net() const;
  DeltaNetStateCache& kda();
  const DeltaNetStateCache& kda() const;
  PagedKVCache& mla();
  const PagedKVCache& mla() const;
  const StateSlotPool& slots() const { return slots_; }

  CacheUsage usage() const;      // sums over the parts
  StorageTensors storage() const;  // names prefixed by the part: "mamba2/layer_0/ssm_state"
  void save(SnapshotWriter& out) const;
  void restore(const SnapshotReader& in);

 private:
  void reset_states(std::int64_t slot);
  void advance_states(std::int64_t slot, std::int64_t tokens);

  void require_storage(const char* what) const;
  PagedKVCache* pool();  // attention_ or mla_, nullptr without either
  const PagedKVCache* pool() const;

  HybridCacheConfig config_;
  StorageAllocator* allocator_;
  StateSlotPool slots_;
  std::optional<PagedKVCache> attention_;
  std::optional<MambaStateCache> mamba_;
  std::optional<Mamba2StateCache> mamba2_;
  std::optional<LinearAttentionStateCache> linear_attention_;
  std::optional<DeltaNetStateCache> gated_delta_net_, kda_;
  std::optional<PagedKVCache> mla_;
  std::map<RequestId, std::int64_t> lengths_;
  std::vector<std::int64_t> cache_layer_;
};

}  // namespace ssmkit
