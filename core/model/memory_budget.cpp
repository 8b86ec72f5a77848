#include "ssmkit/model/memory_budget.hpp"

#include <stdexcept>

#include "ssmkit/error.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit {
namespace {

std::size_t bytes(std::int64_t elements, DType dtype) {
  return static_cast<std::size_t>(elements) * dtype_size(dtype);
}

// The config's bytes_per_sequence() is the total the cache allocates per slot; the split
// into conv and SSM follows the shapes the state caches allocate, and must add up to it.
void check_split(const LayerKindMemory& k, std::size_t total) {
  if (k.conv_bytes_per_sequence + k.state_bytes_per_sequence != total) {
    throw std::logic_error("memory_budget: conv + state bytes of " +
                           std::string(layer_kind_name(k.kind)) +
                           " differ from the cache config's bytes_per_sequence");
  }
}

}  // namespace

ModelMemory model_memory(const ModelSpec& model, const CacheSettings& settings) {
  CacheSettings one = settings;
  one.max_requests = 1;
  one.kv_memory = MemoryBudget{};
  // Bytes per token and per sequence do not depend on the length limit; a config without
  // max_position_embeddings still has them (each context sets its own limit later).
  if (one.max_seq_len == 0 && model.max_position_embeddings == 0) one.max_seq_len = 1;
  ModelMemory m;
  m.config = make_hybrid_cache_config(model, one);
  const HybridCacheConfig& c = m.config;
  if (c.attention) {
    LayerKindMemory k{LayerKind::attention, c.attention->num_layers};
    k.kv_bytes_per_token = c.attention->bytes_per_token();
    m.kinds.push_back(k);
    m.kv_bytes_per_token = k.kv_bytes_per_token;
    m.kv_bytes_per_page = c.attention->bytes_per_page();
    m.page_size = c.attention->page_size;
  }
  if (c.mamba) {
    const MambaCacheConfig& s = *c.mamba;
    const std::size_t total = s.bytes_per_sequence();  // checked: the parts below then fit
    LayerKindMemory k{LayerKind::mamba, s.num_layers};
    k.conv_bytes_per_sequence = s.num_layers * bytes(s.intermediate_size * s.conv_kernel, s.conv_dtype);
    k.state_bytes_per_sequence = s.num_layers * bytes(s.intermediate_size * s.d_state, s.ssm_dtype);
    check_split(k, total);
    m.kinds.push_back(k);
    m.state_bytes_per_sequence += total;
  }
  if (c.mamba2) {
    const Mamba2CacheConfig& s = *c.mamba2;
    const std::size_t total = s.bytes_per_sequence();
    LayerKindMemory k{LayerKind::mamba2, s.num_layers};
    k.conv_bytes_per_sequence = s.num_layers * bytes(s.conv_channels() * s.conv_kernel, s.conv_dtype);
    k.state_bytes_per_sequence =
        s.num_layers * bytes(s.num_heads * s.head_dim * s.d_state, s.ssm_dtype);
    check_split(k, total);
    m.kinds.push_back(k);
    m.state_bytes_per_sequence += total;
  }
  if (c.linear_attention) {
    const LinearAttentionCacheConfig& s = *c.linear_attention;
    LayerKindMemory k{LayerKind::linear_attention, s.num_layers};
    k.state_bytes_per_sequence = s.bytes_per_sequence();
    m.kinds.push_back(k);
    m.state_bytes_per_sequence += s.bytes_per_sequence();
  }
  return m;
}

ContextCapacity capacity_at(const ModelMemory& memory, std::size_t budget_bytes,
                            std::int64_t context) {
  if (context < 1) {
    throw InputError("capacity_at", "context", "a positive number of tokens, got " +
                                                   std::to_string(context));
  }
  ContextCapacity cap;
  cap.context = context;
  const std::size_t state = memory.state_bytes_per_sequence;
  if (!memory.has_attention()) {
    cap.bytes_per_sequence = state;
    cap.max_sequences = state == 0 ? 0 : static_cast<std::int64_t>(budget_bytes / state);
    return cap;
  }
  cap.pages_per_sequence = (context + memory.page_size - 1) / memory.page_size;
  const std::size_t page = memory.kv_bytes_per_page;
  std::size_t kv = 0;
  if (__builtin_mul_overflow(static_cast<std::size_t>(cap.pages_per_sequence), page, &kv) ||
      __builtin_add_overflow(state, kv, &cap.bytes_per_sequence)) {
    throw InputError("capacity_at", "context",
                     std::to_string(context) + " tokens need more bytes per sequence than 64 bits count");
  }
  // N * bytes_per_sequence + page <= budget: the dummy page is paid once per pool.
  cap.max_sequences =
      budget_bytes < page ? 0 : static_cast<std::int64_t>((budget_bytes - page) / cap.bytes_per_sequence);
  return cap;
}

HybridCacheConfig budget_cache_config(const ModelSpec& model, CacheSettings settings,
                                      std::size_t budget_bytes, std::int64_t sequences,
                                      std::int64_t context) {
  if (sequences < 1 || context < 1) {
    throw InputError("budget_cache_config", sequences < 1 ? "sequences" : "context",
                     "a positive number, got " + std::to_string(sequences < 1 ? sequences : context));
  }
  settings.max_requests = sequences;
  const std::int64_t default_len =
      settings.max_seq_len != 0 ? settings.max_seq_len : model.max_position_embeddings;
  settings.max_seq_len = std::max(default_len, context);
  // Shapes first (no budget), then the pool gets what the states leave.
  settings.kv_memory = MemoryBudget{};
  HybridCacheConfig config = make_hybrid_cache_config(model, settings);
  std::size_t state = 0;
  const std::string field = "state bytes of all sequences";
  if (config.mamba) state = limits::checked_add(state, config.mamba->bytes_per_sequence(), "budget", field);
  if (config.mamba2) state = limits::checked_add(state, config.mamba2->bytes_per_sequence(), "budget", field);
  if (config.linear_attention) {
    state = limits::checked_add(state, config.linear_attention->bytes_per_sequence(), "budget", field);
  }
  state = limits::checked_mul(state, static_cast<std::size_t>(sequences), "budget", field);
  if (config.attention) {
    // A budget the states already exceed leaves the pool nothing; building it then fails
    // with the PagedKVCacheConfig's own "room for at least 2 pages" error.
    config.attention->memory = MemoryBudget::fixed(budget_bytes > state ? budget_bytes - state : 1);
  }
  return config;
}

}  // namespace ssmkit
