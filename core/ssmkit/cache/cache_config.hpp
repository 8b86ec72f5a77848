#pragma once
#include <cstddef>
#include <cstdint>

#include "ssmkit/cache/cache_types.hpp"
#include "ssmkit/dtype.hpp"

namespace ssmkit {

// Every config's validate() throws an InputError whose field is the offending member (or,
// for an inconsistency, the member that disagrees with the others). Caches validate their
// config on construction, so a cache object always has a coherent shape.

// Contiguous KV cache (EasyDeL's TransformerCache): per layer K and V of
// (max_batch, max_len, kv_heads, head_dim).
struct KVCacheConfig {
  std::int64_t num_layers = 0;
  std::int64_t max_batch = 0;
  std::int64_t max_len = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  DType dtype = DType::float32;

  void validate() const;
  std::size_t bytes_per_token() const;
  CacheMetadata metadata() const;
};

// How much memory a paged KV pool may take: a fixed number of bytes, or a fraction of a
// device's memory (EasyDeL's hbm_utilization, vLLM's gpu_memory_utilization).
struct MemoryBudget {
  std::size_t bytes = 0;
  std::size_t device_memory_bytes = 0;
  double utilization = 0.0;

  static MemoryBudget fixed(std::size_t bytes);
  static MemoryBudget fraction_of(std::size_t device_memory_bytes, double utilization);
  std::size_t resolve() const;  // validates, then the budget in bytes
};

// Paged KV cache: per layer K and V pages of (num_pages, page_size, kv_heads, head_dim),
// page-major so that one page is one contiguous block, as vLLM lays out its blocks.
// latent: MLA's compressed cache (DeepSeek-V2, Kimi-Linear): one tensor per layer instead of
// K and V, of one "head" of head_dim = kv_lora_rank + qk_rope_head_dim per token, as vLLM's
// MLA backends store it (kv_heads is then 1).
struct PagedKVCacheConfig {
  std::int64_t num_layers = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t page_size = 0;    // tokens per page
  std::int64_t max_seq_len = 0;  // longest sequence one request may grow to
  DType dtype = DType::float32;
  MemoryBudget memory;
  bool latent = false;

  std::int64_t tensors_per_layer() const { return latent ? 1 : 2; }

  void validate() const;
  std::size_t bytes_per_token() const;
  std::size_t bytes_per_page() const;
  // Pages the budget holds, page 0 (the dummy page) included.
  std::int64_t num_pages() const;
  std::int64_t max_pages_per_sequence() const;
  CacheMetadata metadata() const;  // the pool's geometry, not how the budget was stated
};

// Mamba1 (HF MambaCache, MAX's SSMStateCacheParams): per layer a conv window
// (max_batch, intermediate_size, conv_kernel) and an SSM state (max_batch, intermediate_size,
// d_state).
struct MambaCacheConfig {
  std::int64_t num_layers = 0;
  std::int64_t max_batch = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t d_state = 0;
  std::int64_t conv_kernel = 0;
  DType conv_dtype = DType::float32;
  DType ssm_dtype = DType::float32;

  void validate() const;
  std::size_t bytes_per_sequence() const;
  CacheMetadata metadata() const;
};

// Mamba2: the conv runs over x, B and C together, so its window has
// intermediate_size + 2 * n_groups * d_state channels; the SSM state is
// (max_batch, num_heads, head_dim, d_state).
struct Mamba2CacheConfig {
  std::int64_t num_layers = 0;
  std::int64_t max_batch = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t n_groups = 0;
  std::int64_t d_state = 0;
  std::int64_t conv_kernel = 0;
  DType conv_dtype = DType::float32;
  DType ssm_dtype = DType::float32;

  void validate() const;
  std::int64_t conv_channels() const { return intermediate_size + 2 * n_groups * d_state; }
  std::size_t bytes_per_sequence() const;
  CacheMetadata metadata() const;
};

// Lightning attention (MiniMax): per layer a state (max_batch, num_heads, key_dim, value_dim).
struct LinearAttentionCacheConfig {
  std::int64_t num_layers = 0;
  std::int64_t max_batch = 0;
  std::int64_t num_heads = 0;
  std::int64_t key_dim = 0;
  std::int64_t value_dim = 0;
  DType dtype = DType::float32;

  void validate() const;
  std::size_t bytes_per_sequence() const;
  CacheMetadata metadata() const;
};

// Gated DeltaNet (Qwen3-Next, Qwen3.5) and KDA (Kimi-Linear) states: per layer a conv window
// (max_batch, conv_channels, conv_kernel) over the concatenated q|k|v channels, 2 * H * K +
// HV * V (vLLM's gated_delta_net_state_shape for GDN; KDA's three short convs over q, k and
// v are kept side by side in the same window, the channels vLLM's kda_state_shape counts),
// and a recurrent state (max_batch, num_v_heads, head_k_dim, head_v_dim), flash-linear-
// attention's (N, HV, K, V) initial_state / final_state layout.
struct DeltaNetCacheConfig {
  std::int64_t num_layers = 0;
  std::int64_t max_batch = 0;
  std::int64_t num_k_heads = 0;  // H: heads of q and k
  std::int64_t num_v_heads = 0;  // HV: heads of v and of the state, a multiple of H
  std::int64_t head_k_dim = 0;   // K
  std::int64_t head_v_dim = 0;   // V
  std::int64_t conv_kernel = 0;
  DType conv_dtype = DType::float32;
  DType state_dtype = DType::float32;

  void validate() const;
  std::int64_t conv_channels() const {
    return 2 * num_k_heads * head_k_dim + num_v_heads * head_v_dim;
  }
  std::size_t bytes_per_sequence() const;
  CacheMetadata metadata() const;
};

// The dtypes a cache may store: the three engines use, and float64 for exact replays
// against the CPU reference.
bool is_cache_dtype(DType dtype);

}  // namespace ssmkit
