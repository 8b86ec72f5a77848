#include "ssmkit/model/memory_budget.hpp"

#include <stdexcept>

#include "ssmkit/error.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit {
namespace {

std::size_t bytes(std::int64_t elements, DType dtype) {
  return static_cast<std::size_t>(elements) * dtype_size(dtype);
}

// A conv + recurrent state kind. The config's bytes_per_sequence() is the total the cache
// allocates per slot; the split into conv and state follows the shapes the state caches
// allocate, and must add up to it.
struct ConvStateShape {
  LayerKind kind;
  std::int64_t layers, conv_channels, conv_kernel;
  DType conv_dtype;
  std::int64_t state_elements;  // per layer
  DType state_dtype;
};

LayerKindMemory conv_state_memory(const ConvStateShape& s, std::size_t total) {
  LayerKindMemory k{s.kind, s.layers};
  const auto layers = static_cast<std::size_t>(s.layers);
  k.conv_bytes_per_sequence = layers * bytes(s.conv_channels * s.conv_kernel, s.conv_dtype);
  k.conv_bytes_per_sequence_w_minus_1 =
      layers * bytes(s.conv_channels * (s.conv_kernel - 1), s.conv_dtype);
  k.state_bytes_per_sequence = layers * bytes(s.state_elements, s.state_dtype);
  if (k.conv_bytes_per_sequence + k.state_bytes_per_sequence != total) {
    throw std::logic_error("memory_budget: conv + state bytes of " +
                           std::string(layer_kind_name(k.kind)) +
                           " differ from the cache config's bytes_per_sequence");
  }
  return k;
}

void add_state_kind(ModelMemory& m, const LayerKindMemory& k) {
  m.kinds.push_back(k);
  m.state_bytes_per_sequence += k.conv_bytes_per_sequence + k.state_bytes_per_sequence;
  m.state_bytes_per_sequence_w_minus_1 +=
      k.conv_bytes_per_sequence_w_minus_1 + k.state_bytes_per_sequence;
}

// Each kind's bytes are checked by its config; their sum is checked here.
std::size_t state_bytes(const HybridCacheConfig& c) {
  std::size_t total = 0;
  auto add = [&](std::size_t bytes) {
    total = limits::checked_add(total, bytes, "budget", "state bytes per sequence");
  };
  if (c.mamba) add(c.mamba->bytes_per_sequence());
  if (c.mamba2) add(c.mamba2->bytes_per_sequence());
  if (c.linear_attention) add(c.linear_attention->bytes_per_sequence());
  if (c.gated_delta_net) add(c.gated_delta_net->bytes_per_sequence());
  if (c.kda) add(c.kda->bytes_per_sequence());
  return total;
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
  if (const PagedKVCacheConfig* kv = c.kv_pool()) {
    LayerKindMemory k{c.attention ? LayerKind::attention : LayerKind::mla, kv->num_layers};
    k.kv_bytes_per_token = kv->bytes_per_token();
    m.kinds.push_back(k);
    m.kv_bytes_per_token = k.kv_bytes_per_token;
    m.kv_bytes_per_page = kv->bytes_per_page();
    m.page_size = kv->page_size;
  }
  if (const auto& s = c.mamba) {
    add_state_kind(m, conv_state_memory({LayerKind::mamba, s->num_layers, s->intermediate_size,
                                         s->conv_kernel, s->conv_dtype,
                                         s->intermediate_size * s->d_state, s->ssm_dtype},
                                        s->bytes_per_sequence()));
  }
  if (const auto& s = c.mamba2) {
    add_state_kind(m, conv_state_memory({LayerKind::mamba2, s->num_layers, s->conv_channels(),
                                         s->conv_kernel, s->conv_dtype,
                                         s->num_heads * s->head_dim * s->d_state, s->ssm_dtype},
                                        s->bytes_per_sequence()));
  }
  if (c.linear_attention) {
    const LinearAttentionCacheConfig& s = *c.linear_attention;
    LayerKindMemory k{LayerKind::linear_attention, s.num_layers};
    k.state_bytes_per_sequence = s.bytes_per_sequence();
    add_state_kind(m, k);
  }
  for (const auto& [kind, part] : {std::pair{LayerKind::gated_delta_net, &c.gated_delta_net},
                                   std::pair{LayerKind::kda, &c.kda}}) {
    if (const auto& s = *part) {
      add_state_kind(m, conv_state_memory({kind, s->num_layers, s->conv_channels(), s->conv_kernel,
                                           s->conv_dtype, s->num_v_heads * s->head_k_dim * s->head_v_dim,
                                           s->state_dtype},
                                          s->bytes_per_sequence()));
    }
  }
  const std::size_t total = state_bytes(c);  // InputError where the kinds' sum overflows
  if (m.state_bytes_per_sequence != total) {
    throw std::logic_error("memory_budget: the kinds' state bytes differ from the caches' total");
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
  const std::size_t state = limits::checked_mul(state_bytes(config), static_cast<std::size_t>(sequences),
                                                "budget", "state bytes of all sequences");
  if (PagedKVCacheConfig* kv = config.kv_pool()) {
    // A budget the states already exceed leaves the pool nothing; building it then fails
    // with the PagedKVCacheConfig's own "room for at least 2 pages" error.
    kv->memory = MemoryBudget::fixed(budget_bytes > state ? budget_bytes - state : 1);
  }
  return config;
}

}  // namespace ssmkit
