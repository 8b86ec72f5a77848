#include "ssmkit/model/model_spec.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "ssmkit/error.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit {
namespace {

std::string where_of(const ModelSpec& m) { return "model " + (m.name.empty() ? "?" : m.name); }

void require_positive(const std::string& where, const std::string& field, std::int64_t value) {
  if (value <= 0) {
    throw InputError(where, field, "a positive number, got " + std::to_string(value));
  }
}

// A kind has a spec exactly when the layout uses it.
template <class Spec>
bool check_presence(const ModelSpec& m, LayerKind kind, const std::optional<Spec>& spec) {
  const std::string name(layer_kind_name(kind));
  const std::int64_t n = m.count(kind);
  if (n > 0 && !spec) {
    throw InputError(where_of(m), name,
                     "sizes for the " + std::to_string(n) + " " + name + " layer(s) of the layout");
  }
  if (n == 0 && spec) {
    throw InputError(where_of(m), name, "no sizes: the layout has no " + name + " layers");
  }
  return spec.has_value();
}

void validate_attention(const std::string& where, const AttentionLayerSpec& a) {
  require_positive(where, "attention.num_heads", a.num_heads);
  require_positive(where, "attention.kv_heads", a.kv_heads);
  require_positive(where, "attention.head_dim", a.head_dim);
  if (a.num_heads % a.kv_heads != 0) {
    throw InputError(where, "attention.kv_heads",
                     "a divisor of num_heads (" + std::to_string(a.num_heads) + "), got " +
                         std::to_string(a.kv_heads));
  }
}

void validate_mamba2(const std::string& where, const Mamba2LayerSpec& s) {
  require_positive(where, "mamba2.intermediate_size", s.intermediate_size);
  require_positive(where, "mamba2.num_heads", s.num_heads);
  require_positive(where, "mamba2.head_dim", s.head_dim);
  require_positive(where, "mamba2.n_groups", s.n_groups);
  require_positive(where, "mamba2.d_state", s.d_state);
  require_positive(where, "mamba2.conv_kernel", s.conv_kernel);
  if (s.num_heads * s.head_dim != s.intermediate_size) {
    throw InputError(where, "mamba2.intermediate_size",
                     "num_heads * head_dim = " + std::to_string(s.num_heads * s.head_dim) +
                         ", got " + std::to_string(s.intermediate_size));
  }
  if (s.num_heads % s.n_groups != 0) {
    throw InputError(where, "mamba2.n_groups",
                     "a divisor of num_heads (" + std::to_string(s.num_heads) + "), got " +
                         std::to_string(s.n_groups));
  }
}

void validate_delta_net(const std::string& where, const std::string& kind,
                        const DeltaNetLayerSpec& s) {
  require_positive(where, kind + ".num_k_heads", s.num_k_heads);
  require_positive(where, kind + ".num_v_heads", s.num_v_heads);
  require_positive(where, kind + ".head_k_dim", s.head_k_dim);
  require_positive(where, kind + ".head_v_dim", s.head_v_dim);
  require_positive(where, kind + ".conv_kernel", s.conv_kernel);
  if (s.num_v_heads % s.num_k_heads != 0) {
    throw InputError(where, kind + ".num_v_heads",
                     "a multiple of num_k_heads (" + std::to_string(s.num_k_heads) + "), got " +
                         std::to_string(s.num_v_heads));
  }
}

void validate_mla(const std::string& where, const MlaLayerSpec& s) {
  require_positive(where, "mla.num_heads", s.num_heads);
  require_positive(where, "mla.kv_lora_rank", s.kv_lora_rank);
  if (s.qk_rope_head_dim < 0) {
    throw InputError(where, "mla.qk_rope_head_dim",
                     "0 or a positive number, got " + std::to_string(s.qk_rope_head_dim));
  }
}

// One rank's share of `total`, which must divide evenly.
std::int64_t shard(const std::string& where, const std::string& field, std::int64_t total,
                   std::int64_t tp) {
  if (total % tp != 0) {
    throw InputError(where, field,
                     "divisible by tensor_parallel " + std::to_string(tp) + ", got " +
                         std::to_string(total));
  }
  return total / tp;
}

// vLLM shards KV heads when they divide evenly and otherwise gives every rank one
// replicated head, which needs tp to be a multiple of kv_heads.
std::int64_t kv_heads_per_rank(const std::string& where, std::int64_t kv_heads, std::int64_t tp) {
  if (kv_heads >= tp) return shard(where, "attention.kv_heads", kv_heads, tp);
  if (tp % kv_heads != 0) {
    throw InputError(where, "attention.kv_heads",
                     "a multiple or a divisor of tensor_parallel " + std::to_string(tp) +
                         " (fewer KV heads than ranks are replicated), got " +
                         std::to_string(kv_heads));
  }
  return 1;
}

// A single group is replicated on every rank (vLLM: n_groups == 1 or divisible by tp).
std::int64_t groups_per_rank(const std::string& where, std::int64_t n_groups, std::int64_t tp) {
  if (n_groups % tp == 0) return n_groups / tp;
  if (n_groups == 1) return 1;
  throw InputError(where, "mamba2.n_groups",
                   "1 or divisible by tensor_parallel " + std::to_string(tp) + ", got " +
                       std::to_string(n_groups));
}

// The cache bytes per sequence (per token for attention) at the widest cache dtype must fit
// 64 bits: sizes that each pass their own bound can still multiply past it, and a wrapped
// product would be budgeted as a small (or zero) state.
void check_cache_sizes(const ModelSpec& m, const std::string& where) {
  using U = std::uint64_t;
  const auto product = [&](const std::string& field, std::initializer_list<std::int64_t> factors) {
    U out = 8;  // float64 bytes
    for (const std::int64_t f : factors) out = limits::checked_mul(out, static_cast<U>(f), where, field);
    return out;
  };
  if (m.attention) {
    product("attention (2 * layers * kv_heads * head_dim * 8 bytes per token)",
            {2, m.count(LayerKind::attention), m.attention->kv_heads, m.attention->head_dim});
  }
  if (m.mamba) {
    const std::string field = "mamba (layers * intermediate_size * (d_state + conv_kernel) * 8 bytes)";
    product(field, {m.count(LayerKind::mamba), m.mamba->intermediate_size,
                    limits::checked_add(m.mamba->d_state, m.mamba->conv_kernel, where, field)});
  }
  if (m.mamba2) {
    const auto& s = *m.mamba2;
    const std::string field =
        "mamba2 (layers * ((intermediate_size + 2 * n_groups * d_state) * conv_kernel + "
        "num_heads * head_dim * d_state) * 8 bytes)";
    const std::int64_t layers = m.count(LayerKind::mamba2);
    const U conv = product(field, {layers, s.conv_kernel,
                                   limits::checked_add(s.intermediate_size,
                                                       limits::checked_mul(2 * s.n_groups, s.d_state, where, field),
                                                       where, field)});
    const U ssm = product(field, {layers, s.num_heads, s.head_dim, s.d_state});
    limits::checked_add(conv, ssm, where, field);
  }
  if (m.linear_attention) {
    product("linear_attention (layers * num_heads * key_dim * value_dim * 8 bytes)",
            {m.count(LayerKind::linear_attention), m.linear_attention->num_heads,
             m.linear_attention->key_dim, m.linear_attention->value_dim});
  }
  for (const auto& [kind, spec] : {std::pair{LayerKind::gated_delta_net, &m.gated_delta_net},
                                   std::pair{LayerKind::kda, &m.kda}}) {
    if (!*spec) continue;
    const DeltaNetLayerSpec& s = **spec;
    const std::string field = std::string(layer_kind_name(kind)) +
                              " (layers * ((2 * k_heads * k_dim + v_heads * v_dim) * conv_kernel + "
                              "v_heads * k_dim * v_dim) * 8 bytes)";
    const std::int64_t layers = m.count(kind);
    const U channels = limits::checked_add(product(field, {2, s.num_k_heads, s.head_k_dim}),
                                           product(field, {s.num_v_heads, s.head_v_dim}), where, field);
    const U conv = limits::checked_mul(channels, product(field, {layers, s.conv_kernel}), where, field);
    limits::checked_add(conv, product(field, {layers, s.num_v_heads, s.head_k_dim, s.head_v_dim}), where,
                        field);
  }
  if (m.mla) {
    product("mla (layers * (kv_lora_rank + qk_rope_head_dim) * 8 bytes per token)",
            {m.count(LayerKind::mla), limits::checked_add(m.mla->kv_lora_rank, m.mla->qk_rope_head_dim,
                                                          where, "mla latent dim")});
  }
}

bool states_a_budget(const MemoryBudget& m) {
  return m.bytes != 0 || m.device_memory_bytes != 0 || m.utilization != 0.0;
}

}  // namespace

std::int64_t ModelSpec::count(LayerKind kind) const {
  return std::count(layers.begin(), layers.end(), kind);
}

std::int64_t ModelSpec::decoder_layers() const {
  return num_hidden_layers != 0 ? num_hidden_layers : static_cast<std::int64_t>(layers.size());
}

std::int64_t ModelSpec::decoder_layer_of(std::size_t entry) const {
  return decoder_layer.empty() ? static_cast<std::int64_t>(entry) : decoder_layer.at(entry);
}

void ModelSpec::validate() const {
  const std::string where = where_of(*this);
  if (layers.empty()) throw InputError(where, "layers", "at least one layer that holds a cache");
  if (check_presence(*this, LayerKind::attention, attention)) validate_attention(where, *attention);
  if (check_presence(*this, LayerKind::mamba, mamba)) {
    require_positive(where, "mamba.intermediate_size", mamba->intermediate_size);
    require_positive(where, "mamba.d_state", mamba->d_state);
    require_positive(where, "mamba.conv_kernel", mamba->conv_kernel);
  }
  if (check_presence(*this, LayerKind::mamba2, mamba2)) validate_mamba2(where, *mamba2);
  if (check_presence(*this, LayerKind::linear_attention, linear_attention)) {
    require_positive(where, "linear_attention.num_heads", linear_attention->num_heads);
    require_positive(where, "linear_attention.key_dim", linear_attention->key_dim);
    require_positive(where, "linear_attention.value_dim", linear_attention->value_dim);
  }
  if (check_presence(*this, LayerKind::gated_delta_net, gated_delta_net)) {
    validate_delta_net(where, "gated_delta_net", *gated_delta_net);
  }
  if (check_presence(*this, LayerKind::kda, kda)) validate_delta_net(where, "kda", *kda);
  if (check_presence(*this, LayerKind::mla, mla)) validate_mla(where, *mla);
  if (attention && mla) {
    throw InputError(where, "mla",
                     "a model with attention or MLA layers, not both: ssmkit keeps one paged pool");
  }
  check_cache_sizes(*this, where);
  if (max_position_embeddings < 0) {
    throw InputError(where, "max_position_embeddings",
                     "0 (no limit) or a positive length, got " +
                         std::to_string(max_position_embeddings));
  }
  if (num_hidden_layers < 0) {
    throw InputError(where, "num_hidden_layers",
                     "0 or a positive count, got " + std::to_string(num_hidden_layers));
  }
  if (decoder_layer.empty()) {
    if (num_hidden_layers != 0 && num_hidden_layers != static_cast<std::int64_t>(layers.size())) {
      throw InputError(where, "decoder_layer",
                       "one decoder layer index per entry of layers when num_hidden_layers (" +
                           std::to_string(num_hidden_layers) + ") differs from layers (" +
                           std::to_string(layers.size()) + ")");
    }
    return;
  }
  if (decoder_layer.size() != layers.size()) {
    throw InputError(where, "decoder_layer",
                     "one index per entry of layers (" + std::to_string(layers.size()) +
                         "), got " + std::to_string(decoder_layer.size()));
  }
  for (std::size_t i = 0; i < decoder_layer.size(); ++i) {
    const std::int64_t d = decoder_layer[i];
    const bool ordered = i == 0 || d >= decoder_layer[i - 1];
    if (d < 0 || d >= decoder_layers() || !ordered) {
      throw InputError(where, "decoder_layer[" + std::to_string(i) + "]",
                       "a non-decreasing index below " + std::to_string(decoder_layers()) +
                           ", got " + std::to_string(d));
    }
  }
}

HybridCacheConfig make_hybrid_cache_config(const ModelSpec& model, const CacheSettings& settings) {
  model.validate();
  const std::string where = where_of(model);
  const std::string settings_where = "CacheSettings";
  require_positive(settings_where, "tensor_parallel", settings.tensor_parallel);
  require_positive(settings_where, "max_requests", settings.max_requests);
  require_positive(settings_where, "page_size", settings.page_size);
  if (settings.max_seq_len < 0) {
    throw InputError(settings_where, "max_seq_len",
                     "0 (the model's max_position_embeddings) or a positive length, got " +
                         std::to_string(settings.max_seq_len));
  }
  const std::int64_t tp = settings.tensor_parallel;
  const std::string tp_where = where + " at tensor_parallel " + std::to_string(tp);

  HybridCacheConfig config;
  config.layers = model.layers;
  config.max_requests = settings.max_requests;
  // The paged pool's shape apart from its heads: attention's K/V or MLA's latent rows.
  auto pool = [&](LayerKind kind) {
    const std::int64_t max_seq_len =
        settings.max_seq_len != 0 ? settings.max_seq_len : model.max_position_embeddings;
    if (max_seq_len == 0) {
      throw InputError(settings_where, "max_seq_len",
                       "a positive length: " + model.name + " sets no max_position_embeddings");
    }
    PagedKVCacheConfig kv;
    kv.num_layers = model.count(kind);
    kv.page_size = settings.page_size;
    kv.max_seq_len = max_seq_len;
    kv.dtype = settings.kv_dtype;
    kv.memory = settings.kv_memory;
    return kv;
  };
  if (model.attention) {
    PagedKVCacheConfig kv = pool(LayerKind::attention);
    shard(tp_where, "attention.num_heads", model.attention->num_heads, tp);
    kv.kv_heads = kv_heads_per_rank(tp_where, model.attention->kv_heads, tp);
    kv.head_dim = model.attention->head_dim;
    config.attention = kv;
  }
  if (model.mla) {
    PagedKVCacheConfig kv = pool(LayerKind::mla);
    shard(tp_where, "mla.num_heads", model.mla->num_heads, tp);
    kv.latent = true;
    kv.kv_heads = 1;
    kv.head_dim = model.mla->latent_dim();
    config.mla = kv;
  }
  // vLLM's gated_delta_net_state_shape and kda_state_shape divide the conv channels and the
  // state's heads by the tensor-parallel degree.
  auto delta_net = [&](LayerKind kind, const DeltaNetLayerSpec& s) {
    const std::string name(layer_kind_name(kind));
    DeltaNetCacheConfig c;
    c.num_layers = model.count(kind);
    c.max_batch = settings.max_requests;
    c.num_k_heads = shard(tp_where, name + ".num_k_heads", s.num_k_heads, tp);
    c.num_v_heads = shard(tp_where, name + ".num_v_heads", s.num_v_heads, tp);
    c.head_k_dim = s.head_k_dim;
    c.head_v_dim = s.head_v_dim;
    c.conv_kernel = s.conv_kernel;
    c.conv_dtype = settings.conv_dtype;
    c.state_dtype = settings.ssm_dtype;
    return c;
  };
  if (model.gated_delta_net) {
    config.gated_delta_net = delta_net(LayerKind::gated_delta_net, *model.gated_delta_net);
  }
  if (model.kda) config.kda = delta_net(LayerKind::kda, *model.kda);
  if (model.mamba) {
    MambaCacheConfig c;
    c.num_layers = model.count(LayerKind::mamba);
    c.max_batch = settings.max_requests;
    c.intermediate_size = shard(tp_where, "mamba.intermediate_size", model.mamba->intermediate_size, tp);
    c.d_state = model.mamba->d_state;
    c.conv_kernel = model.mamba->conv_kernel;
    c.conv_dtype = settings.conv_dtype;
    c.ssm_dtype = settings.ssm_dtype;
    config.mamba = c;
  }
  if (model.mamba2) {
    Mamba2CacheConfig c;
    c.num_layers = model.count(LayerKind::mamba2);
    c.max_batch = settings.max_requests;
    c.num_heads = shard(tp_where, "mamba2.num_heads", model.mamba2->num_heads, tp);
    c.head_dim = model.mamba2->head_dim;
    c.intermediate_size = c.num_heads * c.head_dim;
    c.n_groups = groups_per_rank(tp_where, model.mamba2->n_groups, tp);
    c.d_state = model.mamba2->d_state;
    c.conv_kernel = model.mamba2->conv_kernel;
    c.conv_dtype = settings.conv_dtype;
    c.ssm_dtype = settings.ssm_dtype;
    config.mamba2 = c;
  }
  if (model.linear_attention) {
    LinearAttentionCacheConfig c;
    c.num_layers = model.count(LayerKind::linear_attention);
    c.max_batch = settings.max_requests;
    c.num_heads = shard(tp_where, "linear_attention.num_heads", model.linear_attention->num_heads, tp);
    c.key_dim = model.linear_attention->key_dim;
    c.value_dim = model.linear_attention->value_dim;
    c.dtype = settings.linear_attention_dtype;
    config.linear_attention = c;
  }

  if (states_a_budget(settings.kv_memory)) {
    config.validate();
  } else {
    // Everything but the pool's size: a copy with a two-page budget stands in for it.
    HybridCacheConfig shape = config;
    if (PagedKVCacheConfig* kv = shape.kv_pool()) {
      kv->memory = MemoryBudget::fixed(2 * kv->bytes_per_page());
    }
    shape.validate();
  }
  return config;
}

namespace {
// The config.json a --model argument names; none for a preset, matched in any case (or for
// something that is neither, where the preset list is the likelier help).
std::optional<std::filesystem::path> config_file_of(std::string_view preset_or_path) {
  if (find_model_preset(preset_or_path)) return std::nullopt;
  const std::filesystem::path path(preset_or_path);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return path / "config.json";
  if (path.extension() != ".json" && !std::filesystem::exists(path, ec)) return std::nullopt;
  return path;
}
}  // namespace

ModelSpec resolve_model(std::string_view preset_or_path) {
  const auto file = config_file_of(preset_or_path);
  return file ? load_hf_config(*file) : model_preset(preset_or_path);
}

std::string model_config_text(std::string_view preset_or_path) {
  const auto file = config_file_of(preset_or_path);
  if (!file) return model_preset_config(preset_or_path);
  std::ifstream in(*file, std::ios::binary);
  if (!in) throw InputError(file->string(), "", "a readable config.json file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace ssmkit
