// vLLM v1's KV cache pool arithmetic, rule by rule. Each function names the vLLM function
// (file, function) whose arithmetic it reproduces; the code was read at upstream main of
// 2026-05 ("latest") and of 2025-11-05 ("0.11"), and only the formulas are reused.
#include "ssmkit/engine/vllm_pool.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>
#include <numeric>

#include "ssmkit/error.hpp"
#include "ssmkit/model/units.hpp"

namespace ssmkit::vllm {
namespace {

constexpr std::int64_t kDefaultBlockSize = 16;  // vllm/config/cache.py CacheConfig.DEFAULT_BLOCK_SIZE

std::int64_t cdiv(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

std::size_t saturating_mul(std::size_t a, std::size_t b) {
  std::size_t out = 0;
  return __builtin_mul_overflow(a, b, &out) ? std::numeric_limits<std::size_t>::max() : out;
}

std::string gib(std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

void check_inputs(const PoolModel& m, const PoolSettings& s) {
  if (m.attention_layers < 0 || m.state_layers < 0 || m.attention_layers + m.state_layers == 0) {
    throw InputError("--model", m.name, "a model with attention or state layers for vLLM's KV cache pool");
  }
  if (m.attention_layers > 0 && m.attention_bytes_per_token == 0) {
    throw InputError("--model", m.name, "attention layers with a positive size per token");
  }
  if (m.state_layers > 0 && m.state.bytes() == 0) {
    throw InputError("--model", m.name, "state layers with a positive state size");
  }
  if (s.max_model_len < 1 || s.max_model_len > kMaxTokenCount) {
    throw InputError("--max-model-len", "", "1 to " + std::to_string(kMaxTokenCount) + " tokens, got " +
                                                std::to_string(s.max_model_len));
  }
  if (s.max_num_seqs < 1) {
    throw InputError("--max-num-seqs", "", "a positive number of sequences, got " + std::to_string(s.max_num_seqs));
  }
  if (s.block_size < 0 || s.block_size > (std::int64_t{1} << 20)) {
    throw InputError("--block-size", "", "1 to 1048576 tokens, got " + std::to_string(s.block_size));
  }
  if (s.kernel_block_alignment < 0 || s.kernel_block_alignment > (std::int64_t{1} << 20)) {
    throw InputError("--kernel-block-alignment", "",
                     "1 to 1048576 tokens, got " + std::to_string(s.kernel_block_alignment));
  }
  if (s.num_speculative_tokens < 0 || s.num_speculative_tokens > 1024) {
    throw InputError("--num-speculative-tokens", "",
                     "0 to 1024 tokens, got " + std::to_string(s.num_speculative_tokens));
  }
}

// vllm/model_executor/models/config.py MambaModelConfig.verify_and_update_config: a mode
// the model cannot do falls back (latest: "all" to "align"; 0.11: prefix caching for the
// states is switched off). Models without state layers have no mode.
MambaCacheMode resolve_mode(const PoolModel& m, const PoolSettings& s, std::string& note) {
  if (m.state_layers == 0) return MambaCacheMode::none;
  MambaCacheMode mode = s.mamba_cache_mode;
  if (s.era == Era::v0_11 && mode == MambaCacheMode::align) {
    throw InputError("--mamba-cache-mode", "",
                     "none or all for --vllm-version 0.11 (the align mode arrived in 2026-01 with vLLM PR "
                     "30877), got align");
  }
  if (mode == MambaCacheMode::all && !m.supports_all_mode) {
    mode = s.era == Era::latest ? MambaCacheMode::align : MambaCacheMode::none;
    note = s.era == Era::latest
               ? "the model class does not support mode all: vLLM falls back to align"
               : "the model class does not support Mamba prefix caching: vLLM 0.11 disables it (mode none)";
  }
  if (mode != MambaCacheMode::none && m.attention_layers == 0) {
    throw InputError("--mamba-cache-mode", "",
                     "none for a model without attention layers (ssmkit does not reproduce vLLM's prefix "
                     "caching of attention-free models), got " + std::string(mamba_cache_mode_name(mode)));
  }
  return mode;
}

// The attention block size and the padded state page (latest: vllm/platforms/interface.py
// Platform._align_hybrid_block_size; 0.11: vllm/model_executor/models/config.py
// HybridAttentionMambaModelConfig.verify_and_update_config). The block is the smallest
// multiple of the alignment whose attention page holds a whole state page; mode all rounds
// to lcm(Mamba chunk size, alignment) instead.
void align_blocks(const PoolModel& m, const PoolSettings& s, MambaCacheMode mode, PoolPlan& p) {
  const std::int64_t cache_block = s.block_size > 0 ? s.block_size : kDefaultBlockSize;
  const std::int64_t backend_align = s.kernel_block_alignment > 0 ? s.kernel_block_alignment : (m.mla ? 64 : 16);
  p.block_size = cache_block;
  if (m.state_layers == 0) {  // attention only: CacheConfig.block_size as given
    p.page_bytes = static_cast<std::size_t>(p.block_size) * m.attention_bytes_per_token;
    return;
  }
  p.state_page_bytes = m.state.bytes();
  if (m.attention_layers == 0) {
    // Attention-free: no alignment; MambaModelConfig sets mamba_block_size = max_model_len.
    p.mamba_block_size = s.max_model_len;
    p.block_size = s.max_model_len;
    p.page_bytes = p.state_page_bytes;
    return;
  }
  const auto per_token = static_cast<std::int64_t>(m.attention_bytes_per_token);
  const auto state = static_cast<std::int64_t>(p.state_page_bytes);
  // latest: the alignment is max(the backend's smallest kernel block, CacheConfig.block_size).
  const std::int64_t align = s.era == Era::latest ? std::max(backend_align, cache_block) : backend_align;
  std::int64_t attn_block = 0;
  if (mode == MambaCacheMode::all) {
    if (m.mamba_chunk_size < 1) {
      throw InputError("--mamba-cache-mode", "", "none or align for a model without a Mamba chunk size, got all");
    }
    const std::int64_t chunk = std::lcm(m.mamba_chunk_size, align);
    attn_block = chunk * cdiv(cdiv(state, per_token), chunk);
    p.mamba_block_size = attn_block;
  } else {
    attn_block = align * cdiv(state, align * per_token);
  }
  if (p.block_size < attn_block) {
    p.block_size = attn_block;
    p.block_size_raised = true;
  }
  if (mode == MambaCacheMode::align) p.mamba_block_size = p.block_size;
  if (mode == MambaCacheMode::none) p.mamba_block_size = s.max_model_len;
  p.page_bytes = static_cast<std::size_t>(p.block_size) * m.attention_bytes_per_token;
  p.state_padding_percent =
      100.0 * static_cast<double>(p.page_bytes - p.state_page_bytes) / static_cast<double>(p.state_page_bytes);
}

// vllm/v1/core/kv_cache_utils.py _get_kv_cache_groups_uniform_page_size: layers of one spec
// are split into groups of group_size (the smaller layer count, or the larger when it is
// under 1.5x the smaller), the last group of each spec padded; one spec is one group.
void group_layers(const PoolModel& m, PoolPlan& p) {
  const std::int64_t a = m.attention_layers, st = m.state_layers;
  if (a == 0 || st == 0) {
    p.group_size = a + st;
    p.groups.push_back(KvCacheGroup{a > 0, a + st, 0, 0, 0});
    return;
  }
  const std::int64_t lo = std::min(a, st), hi = std::max(a, st);
  p.group_size = 2 * hi < 3 * lo ? hi : lo;  // max < 1.5 * min, in integers
  for (const bool attention : {false, true}) {
    const std::int64_t n = attention ? a : st;
    const std::int64_t count = cdiv(n, p.group_size);
    const std::int64_t padding = count * p.group_size - n;
    p.padding_layers += padding;
    for (std::int64_t g = 0; g < count; ++g) {
      // layers[g::count]: the first n % count groups hold one layer more.
      const std::int64_t real = n / count + (g < n % count ? 1 : 0);
      p.groups.push_back(KvCacheGroup{attention, real, p.group_size - real, 0, 0});
    }
  }
}

// Pages one request at max_model_len holds in a group: the spec's max_memory_usage_bytes
// over the page (vllm/v1/kv_cache_interface.py FullAttentionSpec / MambaSpec).
std::int64_t group_pages(const KvCacheGroup& g, const PoolSettings& s, MambaCacheMode mode,
                         std::int64_t max_model_len) {
  if (g.attention) return cdiv(max_model_len, g.block_size);
  if (s.era == Era::v0_11) return cdiv(max_model_len, g.block_size);  // cdiv(len, mamba_block_size)
  switch (mode) {
    case MambaCacheMode::all: return cdiv(max_model_len, g.block_size);
    case MambaCacheMode::align: return 2 + s.num_speculative_tokens;
    case MambaCacheMode::none: break;
  }
  return 1 + s.num_speculative_tokens;
}

std::int64_t pages_per_request(const PoolPlan& p, const PoolSettings& s, MambaCacheMode mode,
                               std::int64_t max_model_len) {
  std::int64_t total = 0;
  for (KvCacheGroup g : p.groups) {
    // 0.11 and mode none: the state spec's block is max_model_len itself, one page.
    if (!g.attention && mode == MambaCacheMode::none) g.block_size = max_model_len;
    total += group_pages(g, s, mode, max_model_len);
  }
  return total;
}

// The memory check at max_model_len. latest: kv_cache_utils.py
// _max_memory_usage_bytes_from_groups (group_size pools of the uniform page, padding
// included); 0.11: check_enough_kv_cache_memory over the layers' own specs (no padding).
std::size_t needed_bytes(const PoolPlan& p, const PoolSettings& s, MambaCacheMode mode,
                         std::int64_t max_model_len) {
  const std::int64_t pages = pages_per_request(p, s, mode, max_model_len);
  if (s.era == Era::latest) {
    return saturating_mul(saturating_mul(static_cast<std::size_t>(p.group_size), p.page_bytes),
                          static_cast<std::size_t>(pages));
  }
  std::size_t layer_pages = 0;
  for (const KvCacheGroup& g : p.groups) {
    KvCacheGroup one = g;
    if (!g.attention && mode == MambaCacheMode::none) one.block_size = max_model_len;
    layer_pages += static_cast<std::size_t>(g.layers) * static_cast<std::size_t>(group_pages(one, s, mode, max_model_len));
  }
  return saturating_mul(layer_pages, p.page_bytes);
}

}  // namespace

std::string_view era_name(Era era) { return era == Era::v0_11 ? "0.11" : "latest"; }

std::string_view era_description(Era era) {
  return era == Era::v0_11
             ? "vLLM 0.11: the rules of upstream main between v0.11.0 and v0.11.1 (read at the commit of "
               "2025-11-05, after Kimi Linear's PR 27809)"
             : "vLLM latest: the rules of upstream main as of 2026-05-19 (PR 43119), which vLLM 0.24.0's "
               "startup logs agree with";
}

Era parse_era(std::string_view text, const std::string& flag) {
  if (text == "latest") return Era::latest;
  if (text == "0.11" || text == "0.11.0" || text == "0.11.1") return Era::v0_11;
  throw InputError(flag, "", "latest or 0.11 (the vLLM code whose rules are reproduced), got \"" +
                                 std::string(text) + "\"");
}

std::string_view mamba_cache_mode_name(MambaCacheMode mode) {
  switch (mode) {
    case MambaCacheMode::none: return "none";
    case MambaCacheMode::align: return "align";
    case MambaCacheMode::all: return "all";
  }
  return "?";
}

PoolPlan plan_pool(const PoolModel& m, const PoolSettings& s) {
  check_inputs(m, s);
  PoolPlan p;
  const MambaCacheMode mode = resolve_mode(m, s, p.mode_note);
  p.mamba_cache_mode = mode;
  align_blocks(m, s, mode, p);
  group_layers(m, p);
  for (KvCacheGroup& g : p.groups) g.block_size = g.attention ? p.block_size : p.mamba_block_size;

  // kv_cache_utils.py get_kv_cache_config_from_groups / get_num_blocks.
  p.num_blocks = static_cast<std::int64_t>(s.available_bytes / p.page_bytes / static_cast<std::size_t>(p.group_size));
  for (KvCacheGroup& g : p.groups) g.blocks_per_request = group_pages(g, s, mode, s.max_model_len);
  p.blocks_per_request = pages_per_request(p, s, mode, s.max_model_len);

  // kv_cache_utils.py get_max_concurrency_for_kv_cache_config: num_blocks over
  // cdiv(group layers * sum of the groups' usage, page * group layers) = the pages above.
  p.max_concurrency = static_cast<double>(p.num_blocks) / static_cast<double>(p.blocks_per_request);
  if (s.era == Era::latest) {
    // _report_kv_cache_config since PR 41069 (2026-04-28): int(max_concurrency * max_model_len).
    p.gpu_kv_cache_tokens = static_cast<std::int64_t>(p.max_concurrency * static_cast<double>(s.max_model_len));
  } else {
    // get_kv_cache_config_from_groups of 0.11: num_blocks // len(groups) * min block size.
    std::int64_t min_block = std::numeric_limits<std::int64_t>::max();
    for (const KvCacheGroup& g : p.groups) min_block = std::min(min_block, g.block_size);
    p.gpu_kv_cache_tokens = p.num_blocks / static_cast<std::int64_t>(p.groups.size()) * min_block;
  }

  p.needed_bytes = needed_bytes(p, s, mode, s.max_model_len);
  p.fits_max_model_len = p.needed_bytes <= s.available_bytes;
  // The longest max_model_len that passes the check (vLLM's estimate_max_model_len is this
  // binary search over [1, max_model_len]; here up to the model's own limit).
  std::int64_t lo = 0, hi = m.max_model_len_limit > 0 ? m.max_model_len_limit : kMaxTokenCount;
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo + 1) / 2;
    if (needed_bytes(p, s, mode, mid) <= s.available_bytes) lo = mid;
    else hi = mid - 1;
  }
  p.largest_max_model_len = lo;

  // latest: vllm/config/compilation.py CompilationConfig.resolve_cudagraph_mode_and_sizes
  // (from PR 38270, 2026-03-30, first in gpu_model_runner.py): with FULL decode cudagraphs
  // every decode sequence needs one state block.
  p.checks_max_num_seqs = s.era == Era::latest && m.state_layers > 0 && s.full_cudagraphs;
  if (s.device_bytes > 0 && s.weight_bytes > s.device_bytes) {
    // The weights are loaded before anything is profiled: a rank that cannot hold them
    // fails there with CUDA's out-of-memory error.
    p.error = "torch.OutOfMemoryError: CUDA out of memory loading the weights (" + gib(s.weight_bytes) +
              " GiB per rank on a " + gib(s.device_bytes) + " GiB GPU)";
    p.largest_max_num_seqs = 0;
    p.largest_max_model_len = 0;
  } else if (s.available_bytes == 0) {
    // kv_cache_utils.py check_enough_kv_cache_memory: nothing left after weights and profile.
    p.error = "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` "
              "when initializing the engine.";
    p.largest_max_num_seqs = 0;
  } else if (!p.fits_max_model_len) {
    p.error = "ValueError: To serve at least one request with the model's max seq len (" +
              std::to_string(s.max_model_len) + "), (" + gib(p.needed_bytes) +
              " GiB KV cache is needed, which is larger than the available KV cache memory (" +
              gib(s.available_bytes) + " GiB)." +
              (p.largest_max_model_len > 0
                   ? " Based on the available memory, the estimated maximum model length is " +
                         std::to_string(p.largest_max_model_len) + "."
                   : std::string());
    p.largest_max_num_seqs = 0;
  } else if (p.checks_max_num_seqs && s.max_num_seqs > p.num_blocks) {
    p.error = "ValueError: max_num_seqs (" + std::to_string(s.max_num_seqs) +
              ") exceeds available Mamba cache blocks (" + std::to_string(p.num_blocks) + ").";
    p.largest_max_num_seqs = p.num_blocks;
  } else {
    p.starts = true;
    p.largest_max_num_seqs = p.checks_max_num_seqs ? p.num_blocks : -1;
  }
  return p;
}

std::int64_t default_max_num_seqs(std::size_t device_memory_bytes, std::string_view gpu_name) {
  std::string lower(gpu_name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  const bool large = device_memory_bytes >= 70ull * 1024 * 1024 * 1024 && lower.find("a100") == std::string::npos;
  return large ? 1024 : 256;
}

}  // namespace ssmkit::vllm
