// Reads the cache-relevant part of an HF config.json. Each model type follows the way
// transformers' configuration_<type>.py and modeling code derive the cache shapes from the
// keys (derived sizes, defaults of optional keys, layout lists); a missing, null or
// wrong-typed key the shape needs is an InputError naming the file and the key.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/json_input.hpp"
#include "ssmkit/limits.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "config_reader.hpp"

namespace ssmkit {
namespace {

using nlohmann::json;
using config_keys::brief;
using config_keys::ConfigReader;

// Attention sizes as transformers' attention modules take them: num_key_value_heads
// defaults to num_attention_heads, head_dim to hidden_size / num_attention_heads.
AttentionLayerSpec attention_from(const ConfigReader& r,
                                  std::initializer_list<std::string> head_dim_keys = {"head_dim"}) {
  AttentionLayerSpec a;
  a.num_heads = r.positive("num_attention_heads");
  a.kv_heads = r.positive_or("num_key_value_heads", a.num_heads);
  for (const auto& key : head_dim_keys) {
    if (r.has(key)) {
      a.head_dim = r.positive(key);
      return a;
    }
  }
  const std::int64_t hidden = r.positive("hidden_size");
  if (hidden % a.num_heads != 0) {
    r.fail("hidden_size", "divisible by num_attention_heads (" + std::to_string(a.num_heads) +
                              ") when head_dim is not given, got " + std::to_string(hidden));
  }
  a.head_dim = hidden / a.num_heads;
  return a;
}

// Mamba2 heads of `intermediate` channels; head_dim "auto" (or absent) divides it evenly.
Mamba2LayerSpec mamba2_from(const ConfigReader& r, std::int64_t intermediate, std::int64_t heads,
                            const std::string& head_dim_key, std::int64_t groups,
                            std::int64_t d_state, std::int64_t conv_kernel) {
  Mamba2LayerSpec s;
  s.intermediate_size = intermediate;
  s.num_heads = heads;
  const bool auto_head = !r.has(head_dim_key) ||
                         (r.at(head_dim_key, "").is_string() && r.string(head_dim_key) == "auto");
  s.head_dim = auto_head ? intermediate / heads : r.positive(head_dim_key);
  s.n_groups = groups;
  s.d_state = d_state;
  s.conv_kernel = conv_kernel;
  if (s.num_heads * s.head_dim != s.intermediate_size) {
    r.fail(head_dim_key, "heads * head_dim equal to the Mamba intermediate size " +
                             std::to_string(intermediate) + ", got " + std::to_string(heads) +
                             " * " + std::to_string(s.head_dim));
  }
  return s;
}

void set_layout(ModelSpec& m, std::int64_t decoder_layers,
                const std::vector<std::vector<LayerKind>>& per_layer) {
  m.num_hidden_layers = decoder_layers;
  for (std::size_t d = 0; d < per_layer.size(); ++d) {
    for (const LayerKind kind : per_layer[d]) {
      m.layers.push_back(kind);
      m.decoder_layer.push_back(static_cast<std::int64_t>(d));
    }
  }
}

void check_length(const ConfigReader& r, const std::string& key, std::size_t size,
                  std::int64_t num_hidden_layers) {
  if (static_cast<std::int64_t>(size) != num_hidden_layers) {
    r.fail(key, "one entry per layer (num_hidden_layers = " + std::to_string(num_hidden_layers) +
                    "), got " + std::to_string(size));
  }
}

// HF MambaConfig / FalconMambaConfig.
ModelSpec from_mamba(const ConfigReader& r) {
  ModelSpec m;
  const std::int64_t layers = r.positive("num_hidden_layers", limits::kMaxLayers);
  MambaLayerSpec s;
  s.intermediate_size = r.has("intermediate_size")
                            ? r.positive("intermediate_size")
                            : r.positive("expand") * r.positive("hidden_size");
  s.d_state = r.positive("state_size");
  s.conv_kernel = r.positive("conv_kernel");
  m.layers.assign(layers, LayerKind::mamba);
  m.mamba = s;
  m.max_position_embeddings = r.max_position_embeddings();
  return m;
}

// HF Mamba2Config: the mixer's intermediate size is expand * hidden_size.
ModelSpec from_mamba2(const ConfigReader& r) {
  ModelSpec m;
  const std::int64_t layers = r.positive("num_hidden_layers", limits::kMaxLayers);
  const std::int64_t intermediate = r.positive("expand") * r.positive("hidden_size");
  m.mamba2 = mamba2_from(r, intermediate, r.positive("num_heads"), "head_dim",
                         r.positive("n_groups"), r.positive("state_size"),
                         r.positive("conv_kernel"));
  m.layers.assign(layers, LayerKind::mamba2);
  m.max_position_embeddings = r.max_position_embeddings();
  return m;
}

// mamba_ssm's own config.json (MambaConfig in mamba_ssm/models/config_mamba.py): no
// model_type; ssm_cfg overrides the mixer's defaults, attn_layer_idx lists MHA layers. The
// defaults are those of mamba_ssm's Mamba (d_state 16, d_conv 4, expand 2) and Mamba2
// (d_state 128, d_conv 4, expand 2, headdim 64, ngroups 1) modules.
ModelSpec from_mamba_ssm(const ConfigReader& r) {
  ModelSpec m;
  const std::int64_t layers = r.positive("n_layer", limits::kMaxLayers);
  const std::int64_t d_model = r.positive("d_model");
  const json empty = json::object();
  const ConfigReader ssm = r.has("ssm_cfg") ? r.object("ssm_cfg") : ConfigReader(empty, r.where());
  const std::string kind = ssm.has("layer") ? ssm.string("layer") : "Mamba1";
  if (ssm.has("d_ssm")) {
    ssm.fail("d_ssm", "absent: ssmkit sizes the SSM over the whole intermediate size");
  }
  const std::int64_t expand = ssm.positive_or("expand", 2);
  const std::int64_t conv_kernel = ssm.positive_or("d_conv", 4);
  LayerKind mixer = LayerKind::mamba;
  if (kind == "Mamba1") {
    m.mamba = MambaLayerSpec{expand * d_model, ssm.positive_or("d_state", 16), conv_kernel};
  } else if (kind == "Mamba2") {
    mixer = LayerKind::mamba2;
    const std::int64_t intermediate = expand * d_model;
    const std::int64_t head_dim = ssm.positive_or("headdim", 64);
    if (intermediate % head_dim != 0) {
      ssm.fail("headdim", "a divisor of expand * d_model (" + std::to_string(intermediate) + ")");
    }
    m.mamba2 = Mamba2LayerSpec{intermediate, intermediate / head_dim, head_dim,
                               ssm.positive_or("ngroups", 1), ssm.positive_or("d_state", 128),
                               conv_kernel};
  } else {
    ssm.fail("layer", "\"Mamba1\" or \"Mamba2\", got \"" + quote_for_message(kind) + "\"");
  }
  std::vector<std::vector<LayerKind>> per_layer(layers, {mixer});
  if (r.has("attn_layer_idx") && !r.array("attn_layer_idx").empty()) {
    const ConfigReader attn = r.object("attn_cfg");
    if (attn.has("d_conv") && attn.integer("d_conv") != 0) {
      attn.fail("d_conv", "0: ssmkit keeps no conv state for attention layers");
    }
    AttentionLayerSpec a;
    a.num_heads = attn.positive("num_heads");
    a.kv_heads = attn.positive_or("num_heads_kv", a.num_heads);
    a.head_dim = attn.positive_or("head_dim", d_model / a.num_heads);
    m.attention = a;
    const auto idx = r.integers("attn_layer_idx");
    for (std::size_t i = 0; i < idx.size(); ++i) {
      if (idx[i] < 0 || idx[i] >= layers) {
        r.fail("attn_layer_idx[" + std::to_string(i) + "]",
               "a layer index below n_layer (" + std::to_string(layers) + "), got " +
                   std::to_string(idx[i]));
      }
      per_layer[idx[i]] = {LayerKind::attention};
    }
  }
  set_layout(m, layers, per_layer);
  if (m.count(mixer) == 0) {  // every layer is attention
    m.mamba.reset();
    m.mamba2.reset();
  }
  return m;
}

// Jamba: layer i is attention when i % attn_layer_period == attn_layer_offset (transformers'
// JambaConfig.layers_block_type), Mamba1 otherwise.
ModelSpec from_jamba(const ConfigReader& r) {
  ModelSpec m;
  const std::int64_t layers = r.positive("num_hidden_layers", limits::kMaxLayers);
  const std::int64_t period = r.positive("attn_layer_period");
  const std::int64_t offset = r.integer("attn_layer_offset");
  if (offset < 0 || offset >= period) {
    r.fail("attn_layer_offset", "in [0, attn_layer_period = " + std::to_string(period) +
                                    "), got " + std::to_string(offset));
  }
  std::vector<std::vector<LayerKind>> per_layer;
  for (std::int64_t i = 0; i < layers; ++i) {
    per_layer.push_back({i % period == offset ? LayerKind::attention : LayerKind::mamba});
  }
  set_layout(m, layers, per_layer);
  if (m.count(LayerKind::attention) > 0) m.attention = attention_from(r);
  if (m.count(LayerKind::mamba) > 0) {
    m.mamba = MambaLayerSpec{r.positive("mamba_expand") * r.positive("hidden_size"),
                             r.positive("mamba_d_state"), r.positive("mamba_d_conv")};
  }
  m.max_position_embeddings = r.max_position_embeddings();
  return m;
}

// Zamba2: every layer has a Mamba2 mixer; a "hybrid" layer runs one of the shared
// transformer blocks first. transformers' Zamba2HybridDynamicCache gives each hybrid layer
// its own KV cache, so every invocation of a shared block counts. Attention runs on the
// concatenation of the hidden state and the embeddings: head_dim = 2 * hidden_size /
// num_attention_heads; mamba_headdim = mamba_expand * hidden_size / n_mamba_heads
// (both computed by Zamba2Config, whatever the file says).
ModelSpec from_zamba2(const ConfigReader& r) {
  ModelSpec m;
  const std::int64_t layers = r.positive("num_hidden_layers", limits::kMaxLayers);
  const auto types = r.strings("layers_block_type");
  check_length(r, "layers_block_type", types.size(), layers);
  std::vector<std::vector<LayerKind>> per_layer;
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (types[i] == "hybrid") {
      per_layer.push_back({LayerKind::attention, LayerKind::mamba2});
    } else if (types[i] == "mamba") {
      per_layer.push_back({LayerKind::mamba2});
    } else {
      r.fail("layers_block_type[" + std::to_string(i) + "]",
             "\"mamba\" or \"hybrid\", got \"" + quote_for_message(types[i]) + "\"");
    }
  }
  set_layout(m, layers, per_layer);
  const std::int64_t hidden = r.positive("hidden_size");
  if (m.count(LayerKind::attention) > 0) {
    AttentionLayerSpec a;
    a.num_heads = r.positive("num_attention_heads");
    a.kv_heads = r.positive_or("num_key_value_heads", a.num_heads);
    a.head_dim = 2 * hidden / a.num_heads;
    m.attention = a;
  }
  const std::int64_t intermediate = r.positive("mamba_expand") * hidden;
  const std::int64_t heads = r.positive("n_mamba_heads");
  if (intermediate % heads != 0) {
    r.fail("n_mamba_heads", "a divisor of mamba_expand * hidden_size (" +
                                std::to_string(intermediate) + "), got " + std::to_string(heads));
  }
  m.mamba2 = Mamba2LayerSpec{intermediate, heads, intermediate / heads, r.positive("mamba_ngroups"),
                             r.positive("mamba_d_state"), r.positive("mamba_d_conv")};
  m.max_position_embeddings =
      r.boolean_or("use_long_context", false) ? 16384 : r.max_position_embeddings();
  return m;
}

// Falcon-H1: attention and Mamba2 run in parallel in every layer (layers_block_type is
// "hybrid" throughout); the Mamba intermediate size is mamba_d_ssm, or mamba_expand *
// hidden_size when that is null.
ModelSpec from_falcon_h1(const ConfigReader& r) {
  ModelSpec m;
  const std::int64_t layers = r.positive("num_hidden_layers", limits::kMaxLayers);
  if (r.has("attn_layer_indices")) {
    r.fail("attn_layer_indices", "null: ssmkit models attention in every Falcon-H1 layer");
  }
  set_layout(m, layers,
             std::vector<std::vector<LayerKind>>(layers, {LayerKind::attention, LayerKind::mamba2}));
  m.attention = attention_from(r);
  const std::int64_t intermediate = r.has("mamba_d_ssm")
                                        ? r.positive("mamba_d_ssm")
                                        : r.positive("mamba_expand") * r.positive("hidden_size");
  m.mamba2 = mamba2_from(r, intermediate, r.positive("mamba_n_heads"), "mamba_d_head",
                         r.positive("mamba_n_groups"), r.positive("mamba_d_state"),
                         r.positive("mamba_d_conv"));
  m.max_position_embeddings = r.max_position_embeddings();
  return m;
}

// Nemotron-H: hybrid_override_pattern, one character per layer ('M' Mamba2, '*' attention,
// '-' MLP, 'E' MoE; the last two keep no cache), or the same as a list in layers_block_type
// / layer_types (transformers' current names: "linear_attention" is the Mamba2 mixer,
// "full_attention", "mlp", "moe"; the legacy "mamba"/"attention" too).
ModelSpec from_nemotron_h(const ConfigReader& r) {
  std::vector<std::optional<LayerKind>> kinds;
  std::string key;
  if (r.has("hybrid_override_pattern")) {
    key = "hybrid_override_pattern";
    const std::string pattern = r.string(key);
    if (pattern.size() > static_cast<std::size_t>(limits::kMaxLayers)) {
      r.fail(key, "one character per layer, at most limits::kMaxLayers = " +
                      std::to_string(limits::kMaxLayers) + ", got " +
                      std::to_string(pattern.size()) + " characters");
    }
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      switch (pattern[i]) {
        case 'M': kinds.push_back(LayerKind::mamba2); break;
        case '*': kinds.push_back(LayerKind::attention); break;
        case '-':
        case 'E': kinds.push_back(std::nullopt); break;
        default:
          r.fail(key, "characters M, *, - or E, got '" +
                          quote_for_message(std::string_view(pattern).substr(i, 1)) +
                          "' at position " + std::to_string(i));
      }
    }
  } else {
    key = r.has("layers_block_type") ? "layers_block_type" : "layer_types";
    const auto types = r.strings(key);
    for (std::size_t i = 0; i < types.size(); ++i) {
      const std::string& t = types[i];
      if (t == "mamba" || t == "linear_attention") {
        kinds.push_back(LayerKind::mamba2);
      } else if (t == "attention" || t == "full_attention") {
        kinds.push_back(LayerKind::attention);
      } else if (t == "mlp" || t == "moe") {
        kinds.push_back(std::nullopt);
      } else {
        r.fail(key + "[" + std::to_string(i) + "]",
               "linear_attention (Mamba2), full_attention, mlp or moe, got \"" + quote_for_message(t) + "\"");
      }
    }
  }
  const auto layers = static_cast<std::int64_t>(kinds.size());
  if (r.has("num_hidden_layers")) check_length(r, key, kinds.size(), r.positive("num_hidden_layers", limits::kMaxLayers));
  ModelSpec m;
  std::vector<std::vector<LayerKind>> per_layer;
  for (const auto& k : kinds) per_layer.push_back(k ? std::vector<LayerKind>{*k} : std::vector<LayerKind>{});
  set_layout(m, layers, per_layer);
  if (m.count(LayerKind::attention) > 0) m.attention = attention_from(r, {"head_dim", "attention_head_dim"});
  if (m.count(LayerKind::mamba2) > 0) {
    const std::int64_t heads = r.positive("mamba_num_heads");
    const std::int64_t head_dim = r.positive("mamba_head_dim");
    m.mamba2 = Mamba2LayerSpec{heads * head_dim, heads, head_dim,
                               r.positive_of({"n_groups", "mamba_n_groups"}),
                               r.positive("ssm_state_size"),
                               r.positive_of({"conv_kernel", "mamba_d_conv"})};
  }
  m.max_position_embeddings = r.max_position_embeddings();
  return m;
}

// GraniteMoeHybrid (Granite 4.0-H): layer_types of "mamba"/"attention"; without it every
// layer is Mamba2 (GraniteMoeHybridConfig.layers_block_type).
ModelSpec from_granite_hybrid(const ConfigReader& r) {
  ModelSpec m;
  const std::int64_t layers = r.positive("num_hidden_layers", limits::kMaxLayers);
  std::vector<std::vector<LayerKind>> per_layer(layers, {LayerKind::mamba2});
  if (r.has("layer_types")) {
    const auto types = r.strings("layer_types");
    check_length(r, "layer_types", types.size(), layers);
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (types[i] == "attention") {
        per_layer[i] = {LayerKind::attention};
      } else if (types[i] != "mamba") {
        r.fail("layer_types[" + std::to_string(i) + "]",
               "\"mamba\" or \"attention\", got \"" + quote_for_message(types[i]) + "\"");
      }
    }
  }
  set_layout(m, layers, per_layer);
  if (m.count(LayerKind::attention) > 0) m.attention = attention_from(r, {});
  if (m.count(LayerKind::mamba2) > 0) {
    const std::int64_t intermediate = r.positive("mamba_expand") * r.positive("hidden_size");
    m.mamba2 = mamba2_from(r, intermediate, r.positive("mamba_n_heads"), "mamba_d_head",
                           r.positive("mamba_n_groups"), r.positive("mamba_d_state"),
                           r.positive("mamba_d_conv"));
  }
  m.max_position_embeddings = r.max_position_embeddings();
  return m;
}

// MiniMax-Text-01: layer_types ("linear_attention" lightning, "full_attention" softmax;
// transformers' MiniMaxConfig) or the original attn_type_list (0 lightning, 1 softmax). A
// lightning layer keeps a (num_attention_heads, head_dim, head_dim) state, as vLLM's
// linear_attention_state_shape.
ModelSpec from_minimax(const ConfigReader& r) {
  ModelSpec m;
  const std::int64_t layers = r.positive("num_hidden_layers", limits::kMaxLayers);
  std::vector<std::vector<LayerKind>> per_layer;
  if (r.has("layer_types")) {
    const auto types = r.strings("layer_types");
    check_length(r, "layer_types", types.size(), layers);
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (types[i] == "linear_attention") {
        per_layer.push_back({LayerKind::linear_attention});
      } else if (types[i] == "full_attention") {
        per_layer.push_back({LayerKind::attention});
      } else {
        r.fail("layer_types[" + std::to_string(i) + "]",
               "\"linear_attention\" or \"full_attention\", got \"" + quote_for_message(types[i]) + "\"");
      }
    }
  } else if (r.has("attn_type_list")) {
    const auto types = r.integers("attn_type_list");
    check_length(r, "attn_type_list", types.size(), layers);
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (types[i] != 0 && types[i] != 1) {
        r.fail("attn_type_list[" + std::to_string(i) + "]",
               "0 (lightning) or 1 (softmax), got " + std::to_string(types[i]));
      }
      per_layer.push_back({types[i] == 1 ? LayerKind::attention : LayerKind::linear_attention});
    }
  } else {
    r.fail("layer_types", "a list of layer types (or attn_type_list), the key is missing");
  }
  set_layout(m, layers, per_layer);
  const AttentionLayerSpec a = attention_from(r);
  if (m.count(LayerKind::attention) > 0) m.attention = a;
  if (m.count(LayerKind::linear_attention) > 0) {
    m.linear_attention = LinearAttentionLayerSpec{a.num_heads, a.head_dim, a.head_dim};
  }
  m.max_position_embeddings = r.max_position_embeddings();
  return m;
}

// Llama-like attention-only models. Per-layer types other than full attention (sliding
// windows, linear or recurrent layers of other families) are refused rather than sized
// wrongly.
ModelSpec from_attention(const ConfigReader& r, const std::string& model_type) {
  ModelSpec m;
  const std::int64_t layers = r.positive("num_hidden_layers", limits::kMaxLayers);
  if (r.has("layer_types")) {
    const auto types = r.strings("layer_types");
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (types[i] != "full_attention" && types[i] != "attention") {
        r.fail("layer_types[" + std::to_string(i) + "]",
               "\"full_attention\" (ssmkit sizes model_type \"" + model_type +
                   "\" as full attention only), got \"" + quote_for_message(types[i]) + "\"");
      }
    }
  }
  m.layers.assign(layers, LayerKind::attention);
  m.attention = attention_from(r);
  m.max_position_embeddings = r.max_position_embeddings();
  return m;
}

// ---- linear-attention hybrids: Qwen3-Next / Qwen3.5 (Gated DeltaNet), Kimi-Linear (KDA + MLA)

// Reads layer_types as one kind per decoder layer: "linear_attention" is `linear` (the
// family's linear mixer), "full_attention" is `full`.
std::vector<LayerKind> layer_types_as(const ConfigReader& r, std::int64_t layers, LayerKind linear,
                                      LayerKind full, const std::string& names) {
  const auto types = r.strings("layer_types");
  check_length(r, "layer_types", types.size(), layers);
  std::vector<LayerKind> kinds;
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (types[i] == "linear_attention") {
      kinds.push_back(linear);
    } else if (types[i] == "full_attention") {
      kinds.push_back(full);
    } else {
      r.fail("layer_types[" + std::to_string(i) + "]",
             "\"linear_attention\" (" + names + ") or \"full_attention\", got \"" + types[i] + "\"");
    }
  }
  return kinds;
}

void set_one_per_layer(ModelSpec& m, const std::vector<LayerKind>& kinds) {
  std::vector<std::vector<LayerKind>> per_layer;
  for (const LayerKind k : kinds) per_layer.push_back({k});
  set_layout(m, static_cast<std::int64_t>(kinds.size()), per_layer);
}

// Qwen3-Next (model_type qwen3_next) and Qwen3.5 (qwen3_5_text / qwen3_5_moe_text, the
// text_config of qwen3_5 / qwen3_5_moe): Gated DeltaNet layers with full attention every
// full_attention_interval-th layer. transformers' Qwen3NextConfig.__init__ and
// Qwen3_5TextConfig.__post_init__ (configuration_qwen3_next.py, configuration_qwen3_5.py;
// configuration_qwen3_5_moe.py alike) build layer_types from the interval when absent: layer i
// is full attention when (i + 1) % interval == 0. ssmkit takes layer_types when given and
// needs the interval, when given too, to say the same; an interval that does not divide
// num_hidden_layers is refused rather than placed.
ModelSpec from_qwen3_next(const ConfigReader& r) {
  ModelSpec m;
  const std::int64_t layers = r.positive("num_hidden_layers", 1 << 16);
  std::int64_t interval = 0;
  if (r.has("full_attention_interval")) {
    interval = r.positive("full_attention_interval");
    if (layers % interval != 0) {
      r.fail("full_attention_interval", "a divisor of num_hidden_layers (" +
                                            std::to_string(layers) + "), got " +
                                            std::to_string(interval));
    }
  }
  std::vector<LayerKind> kinds;
  if (r.has("layer_types")) {
    kinds = layer_types_as(r, layers, LayerKind::gated_delta_net, LayerKind::attention,
                           "Gated DeltaNet");
  } else if (interval == 0) {
    r.fail("layer_types", "a list of layer types (or full_attention_interval), the keys are missing");
  }
  for (std::int64_t i = 0; i < layers && interval != 0; ++i) {
    const LayerKind kind = (i + 1) % interval == 0 ? LayerKind::attention : LayerKind::gated_delta_net;
    if (kinds.size() < static_cast<std::size_t>(layers)) {
      kinds.push_back(kind);
    } else if (kinds[i] != kind) {
      r.fail("full_attention_interval",
             "the layout layer_types gives (full attention where (layer + 1) % interval == 0); "
             "interval " + std::to_string(interval) + " disagrees at layer_types[" +
                 std::to_string(i) + "]");
    }
  }
  set_one_per_layer(m, kinds);
  if (m.count(LayerKind::attention) > 0) m.attention = attention_from(r);
  if (m.count(LayerKind::gated_delta_net) > 0) {
    DeltaNetLayerSpec s;
    s.num_k_heads = r.positive("linear_num_key_heads");
    s.num_v_heads = r.positive("linear_num_value_heads");
    s.head_k_dim = r.positive("linear_key_head_dim");
    s.head_v_dim = r.positive("linear_value_head_dim");
    s.conv_kernel = r.positive("linear_conv_kernel_dim");
    if (s.num_v_heads % s.num_k_heads != 0) {
      r.fail("linear_num_value_heads", "a multiple of linear_num_key_heads (" +
                                           std::to_string(s.num_k_heads) + "), got " +
                                           std::to_string(s.num_v_heads));
    }
    m.gated_delta_net = s;
  }
  m.max_position_embeddings = r.max_position_embeddings();
  return m;
}

// Kimi-Linear (model_type kimi_linear): KDA layers and MLA layers. The published config.json
// places them in linear_attn_config's kda_layers and full_attn_layers, 1-based (transformers'
// KimiLinearConfig.__post_init__ sets layer_types[layer - 1]; vLLM's KimiLinearConfig.
// is_kda_layer tests layer_idx + 1); a config saved by transformers may carry layer_types
// instead. Every layer must be placed exactly once. KDA keeps linear_attn_config's num_heads
// for q, k and v and head_dim for K and V; MLA keeps kv_lora_rank + qk_rope_head_dim per
// token. transformers maps max_position_embeddings to model_max_length.
ModelSpec from_kimi_linear(const ConfigReader& r) {
  ModelSpec m;
  const std::int64_t layers = r.positive("num_hidden_layers", 1 << 16);
  const ConfigReader lin = r.object("linear_attn_config");
  std::vector<LayerKind> kinds;
  if (r.has("layer_types")) {
    kinds = layer_types_as(r, layers, LayerKind::kda, LayerKind::mla, "KDA");
  } else {
    std::vector<std::optional<LayerKind>> placed(static_cast<std::size_t>(layers));
    for (const auto& [key, kind] : {std::pair<std::string, LayerKind>{"kda_layers", LayerKind::kda},
                                    {"full_attn_layers", LayerKind::mla}}) {
      const auto list = lin.integers(key);
      for (std::size_t i = 0; i < list.size(); ++i) {
        const std::int64_t layer = list[i];
        if (layer < 1 || layer > layers || placed[layer - 1]) {
          lin.fail(key + "[" + std::to_string(i) + "]",
                   "a 1-based layer index in [1, " + std::to_string(layers) +
                       "] that no other entry of kda_layers or full_attn_layers names, got " +
                       std::to_string(layer));
        }
        placed[layer - 1] = kind;
      }
    }
    for (std::size_t i = 0; i < placed.size(); ++i) {
      if (!placed[i]) {
        lin.fail("kda_layers", "every layer 1.." + std::to_string(layers) +
                                   " in kda_layers or full_attn_layers; layer " +
                                   std::to_string(i + 1) + " is in neither");
      }
      kinds.push_back(*placed[i]);
    }
  }
  set_one_per_layer(m, kinds);
  if (m.count(LayerKind::kda) > 0) {
    const std::int64_t heads = lin.positive("num_heads");
    const std::int64_t head_dim = lin.positive("head_dim");
    m.kda = DeltaNetLayerSpec{heads, heads, head_dim, head_dim, lin.positive("short_conv_kernel_size")};
  }
  if (m.count(LayerKind::mla) > 0) {
    MlaLayerSpec s;
    s.num_heads = r.positive("num_attention_heads");
    s.kv_lora_rank = r.positive("kv_lora_rank");
    s.qk_rope_head_dim = r.integer("qk_rope_head_dim");
    if (s.qk_rope_head_dim < 0 || s.qk_rope_head_dim > (1 << 20)) {
      r.fail("qk_rope_head_dim", "0 or a positive integer, got " + std::to_string(s.qk_rope_head_dim));
    }
    m.mla = s;
  }
  m.max_position_embeddings = r.has("max_position_embeddings") || !r.has("model_max_length")
                                  ? r.max_position_embeddings()
                                  : r.positive("model_max_length", std::int64_t{1} << 32);
  return m;
}

// model_types whose every layer is full softmax attention with a K/V cache (transformers'
// configuration_<type>.py of each). Anything not here and not a family above is refused:
// sizing an unknown architecture as attention-only would be a silent misread.
constexpr const char* kAttentionOnlyTypes[] = {
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
    "gemma", "gemma2", "gemma3_text", "phi3", "olmo2", "granite", "granitemoe"};

}  // namespace

ModelSpec parse_hf_config(std::string_view json_text, const std::string& where) {
  const json config = parse_json_input(std::string(json_text), where, "a config.json");
  if (!config.is_object()) throw InputError(where, "", "a JSON object at the top level");
  const ConfigReader r(config, where);
  ModelSpec m;
  std::string type;
  if (!r.has("model_type") && r.has("d_model") && r.has("n_layer")) {
    type = "mamba_ssm";
    m = from_mamba_ssm(r);
  } else {
    type = r.string("model_type");
    // Multimodal wrappers (Qwen3.5's qwen3_5 / qwen3_5_moe) keep the language model's keys
    // under text_config, with its own model_type (qwen3_5_text).
    std::optional<ConfigReader> text;
    if (r.has("text_config") && !r.has("num_hidden_layers")) {
      text.emplace(r.object("text_config"));
      if (text->has("model_type")) type = text->string("model_type");
    }
    const ConfigReader& c = text ? *text : r;
    if (type == "mamba" || type == "falcon_mamba") m = from_mamba(c);
    else if (type == "mamba2") m = from_mamba2(c);
    else if (type == "jamba") m = from_jamba(c);
    else if (type == "zamba2") m = from_zamba2(c);
    else if (type == "falcon_h1") m = from_falcon_h1(c);
    else if (type == "nemotron_h") m = from_nemotron_h(c);
    else if (type == "granitemoehybrid") m = from_granite_hybrid(c);
    else if (type == "minimax" || type == "minimax_text_01" || type == "minimax_m1") m = from_minimax(c);
    else if (type == "qwen3_next" || type == "qwen3_5" || type == "qwen3_5_text" ||
             type == "qwen3_5_moe" || type == "qwen3_5_moe_text") m = from_qwen3_next(c);
    else if (type == "kimi_linear") m = from_kimi_linear(c);
    else if (std::find(std::begin(kAttentionOnlyTypes), std::end(kAttentionOnlyTypes), type) !=
             std::end(kAttentionOnlyTypes)) m = from_attention(c, type);
    else {
      std::string known;
      for (const char* t : kAttentionOnlyTypes) known += std::string(", ") + t;
      c.fail("model_type",
             "a model type ssmkit knows (mamba, falcon_mamba, mamba2, jamba, zamba2, falcon_h1, "
             "nemotron_h, granitemoehybrid, minimax, minimax_text_01, minimax_m1, qwen3_next, "
             "qwen3_5, qwen3_5_text, qwen3_5_moe, qwen3_5_moe_text, kimi_linear" + known +
                 "), got \"" + type + "\"");
    }
  }
  m.name = where;
  m.source = where + " (model_type " + type + ")";
  const bool sliding = r.has("sliding_window") && r.boolean_or("use_sliding_window", true);
  if (sliding && m.attention) {
    m.source += "; sliding_window " + brief(config.at("sliding_window")) +
                " is not modeled: every token's K and V are counted";
  }
  try {
    m.validate();
  } catch (const InputError& e) {
    throw InputError(where, e.field(), e.expected());
  }
  return m;
}

ModelSpec load_hf_config(const std::filesystem::path& config_json) {
  return parse_hf_config(read_text_file(config_json, "a config.json file"), config_json.string());
}

}  // namespace ssmkit
