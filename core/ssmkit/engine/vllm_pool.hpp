#pragma once
// vLLM v1's KV cache pool for a model with attention and/or state (Mamba-like) layers,
// reproduced as arithmetic: the attention block size and state page padding, the KV cache
// groups, num_blocks, blocks per request, maximum concurrency, "GPU KV cache size", the
// memory check at max_model_len and the max_num_seqs check. Which vLLM function each rule
// follows, and how the rules changed between releases, is in docs/budget-vllm.md.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ssmkit/engine/vllm_state_shapes.hpp"

namespace ssmkit::vllm {

// The vLLM code whose arithmetic is reproduced.
//   v0_11:  upstream main of 2025-10/11 (v0.11.0 to v0.11.1: Qwen3-Next, Kimi Linear)
//   latest: upstream main of 2026-05 (the newest code read), which v0.24.0's logs agree with
enum class Era { v0_11, latest };
std::string_view era_name(Era era);         // "0.11", "latest"
std::string_view era_description(Era era);  // what code the era's rules were read from
// "0.11", "latest"; InputError(flag, ...) listing them otherwise.
Era parse_era(std::string_view text, const std::string& flag);

// --mamba-cache-mode: how many state pages a request holds (prefix caching of states).
enum class MambaCacheMode { none, align, all };
std::string_view mamba_cache_mode_name(MambaCacheMode mode);

// One tensor-parallel rank's cache-holding layers as vLLM's KV cache specs see them:
// attention layers of one page size per token, state layers of one state shape. Any model
// family plugs in by filling this (vllm_model.hpp does it for ssmkit's ModelSpec).
struct PoolModel {
  std::string name;
  std::int64_t attention_layers = 0;
  std::size_t attention_bytes_per_token = 0;  // one layer, one rank (K and V, or MLA's latent)
  bool mla = false;                           // MLA backends align blocks to 64, not 16
  std::int64_t state_layers = 0;
  StateShape state;                           // one layer, one rank, unpadded
  bool supports_all_mode = false;             // the model class is SupportsMambaPrefixCaching
  std::int64_t mamba_chunk_size = 0;          // model_config.get_mamba_chunk_size(); 0: none
  std::int64_t max_model_len_limit = 0;       // the model's derived maximum; 0: none known
};

struct PoolSettings {
  Era era = Era::latest;
  std::size_t available_bytes = 0;     // "Available KV cache memory", one rank
  std::int64_t max_model_len = 0;
  std::int64_t max_num_seqs = 0;
  std::int64_t block_size = 0;         // --block-size; 0: not given (CacheConfig's 16)
  MambaCacheMode mamba_cache_mode = MambaCacheMode::none;  // already resolved
  std::int64_t num_speculative_tokens = 0;
  std::int64_t kernel_block_alignment = 0;  // the backend's smallest kernel block; 0: 16 (MLA 64)
  bool full_cudagraphs = true;         // false with --enforce-eager
  // The weights of one rank and the GPU's memory, when the budget was derived from them; a
  // rank whose weights exceed the GPU fails before the pool is sized. 0: not known.
  std::size_t weight_bytes = 0;
  std::size_t device_bytes = 0;
};

struct KvCacheGroup {
  bool attention = false;              // else a state group
  std::int64_t layers = 0;             // real layers in it
  std::int64_t padding_layers = 0;     // up to the group size
  std::int64_t block_size = 0;         // tokens per block of this group's spec
  std::int64_t blocks_per_request = 0; // pages one request at max_model_len holds
};

struct PoolPlan {
  MambaCacheMode mamba_cache_mode = MambaCacheMode::none;  // after vLLM's fallbacks
  std::string mode_note;                // why it differs from the one asked for
  std::int64_t block_size = 0;          // the attention block size (CacheConfig.block_size)
  bool block_size_raised = false;       // raised to hold a whole state page
  std::int64_t mamba_block_size = 0;
  std::size_t state_page_bytes = 0;     // unpadded; 0 without state layers
  std::size_t page_bytes = 0;           // the uniform page of every group
  double state_padding_percent = 0.0;   // 100 * (page - state page) / state page
  std::int64_t group_size = 0;          // layers per group, padding included
  std::vector<KvCacheGroup> groups;
  std::int64_t padding_layers = 0;
  std::int64_t num_blocks = 0;
  std::int64_t blocks_per_request = 0;  // all groups together
  double max_concurrency = 0.0;         // num_blocks / blocks_per_request
  std::int64_t gpu_kv_cache_tokens = 0; // "GPU KV cache size: N tokens"
  bool fits_max_model_len = false;      // the memory check at max_model_len passes
  std::size_t needed_bytes = 0;         // what that check needs (saturated at SIZE_MAX)
  std::int64_t largest_max_model_len = 0;  // the longest that passes it (0: not even one token)
  bool checks_max_num_seqs = false;     // this era and model raise on max_num_seqs > num_blocks
  std::int64_t largest_max_num_seqs = 0;   // that start; 0: none does, -1: no limit from the pool
  bool starts = false;
  std::string error;                    // vLLM's error when it does not start
};

// InputError naming the flag for settings vLLM would refuse (a mode or alignment the era
// does not have, a model without layers, max_model_len < 1, ...).
PoolPlan plan_pool(const PoolModel& model, const PoolSettings& settings);

// vLLM's default max_num_seqs on a CUDA GPU of `device_memory_bytes` (EngineArgs
// _set_default_max_num_seqs_and_batched_tokens_args): 1024 from 70 GiB up except A100s,
// else 256.
std::int64_t default_max_num_seqs(std::size_t device_memory_bytes, std::string_view gpu_name);

}  // namespace ssmkit::vllm
