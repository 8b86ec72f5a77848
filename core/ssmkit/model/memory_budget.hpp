#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ssmkit/cache/hybrid_cache.hpp"
#include "ssmkit/model/model_spec.hpp"

namespace ssmkit {

// What a model's caches cost on one tensor-parallel rank, from the HybridCacheConfig that
// make_hybrid_cache_config builds and the cache configs' own byte formulas, so that every
// number here is what the cache library allocates.
//
// How a budget of B bytes holds N sequences of C tokens (what budget_cache_config builds):
//   state  N * S             S = state_bytes_per_sequence: every state cache has N slots
//   KV     floor((B - N*S) / page_bytes) pages of page_size tokens, all the rest of B
// Page 0 of the pool is PagedKVCache's reserved dummy page, and a sequence of C tokens
// holds ceil(C / page_size) whole pages, so N sequences fit when
//   N*S + (N * ceil(C / page_size) + 1) * page_bytes <= B      (attention layers present)
//   N*S <= B                                                   (no attention layers)
// and max_sequences is the largest such N. Conv windows are W = conv_kernel columns wide
// (HF transformers' and EasyDeL's layout); vLLM keeps W-1 and needs correspondingly less:
// the *_w_minus_1 figures say how much. MLA layers fill the paged pool with one latent row
// per token instead of K and V.
// Host-side bookkeeping (slot maps, page tables) is not counted, as CacheUsage does not.

struct LayerKindMemory {
  LayerKind kind = LayerKind::attention;
  std::int64_t layers = 0;
  // Per sequence, all layers of this kind together; divide by `layers` for one layer.
  std::size_t conv_bytes_per_sequence = 0;  // Mamba / Mamba2 / GDN / KDA conv windows, W columns
  std::size_t conv_bytes_per_sequence_w_minus_1 = 0;  // the same windows at W-1 columns (vLLM)
  // Mamba / Mamba2 SSM states, lightning states, GDN / KDA recurrent states
  std::size_t state_bytes_per_sequence = 0;
  std::size_t kv_bytes_per_token = 0;  // attention: K and V; MLA: the latent row
};

struct ModelMemory {
  HybridCacheConfig config;  // one rank, max_requests 1, KV pool without a budget
  std::vector<LayerKindMemory> kinds;  // in LayerKind order, present kinds only
  std::size_t state_bytes_per_sequence = 0;  // conv + recurrent states, every state layer
  std::size_t state_bytes_per_sequence_w_minus_1 = 0;  // the same with W-1 conv columns
  std::size_t kv_bytes_per_token = 0;        // 0 without attention or MLA layers
  std::size_t kv_bytes_per_page = 0;         // 0 without attention or MLA layers
  std::int64_t page_size = 0;

  bool has_attention() const { return kv_bytes_per_page != 0; }
};

ModelMemory model_memory(const ModelSpec& model, const CacheSettings& settings);

struct ContextCapacity {
  std::int64_t context = 0;             // tokens per sequence
  std::int64_t pages_per_sequence = 0;  // ceil(context / page_size); 0 without attention
  std::size_t bytes_per_sequence = 0;   // state + its pages (page-rounded KV)
  std::int64_t max_sequences = 0;       // the largest N that fits the budget (see above)
};

// InputError when context < 1.
ContextCapacity capacity_at(const ModelMemory& memory, std::size_t budget_bytes,
                            std::int64_t context);

// The configuration that holds `sequences` state slots and gives the KV pool the rest of
// `budget_bytes` (fixed, in bytes); its max_seq_len is at least `context`. Whether N
// sequences of `context` tokens fit is then up to the cache: admitting them succeeds for
// N <= max_sequences, and for more either the pool runs out of pages, the pool is too small
// to build (InputError), or the states alone exceed the budget.
HybridCacheConfig budget_cache_config(const ModelSpec& model, CacheSettings settings,
                                      std::size_t budget_bytes, std::int64_t sequences,
                                      std::int64_t context);

}  // namespace ssmkit
