// Parameter counts from config.json. The layout (which decoder layer holds which mixer) is
// parse_hf_config's; this file adds what the cache shapes do not need: vocabulary, MLP and MoE
// sizes, projections, norms and MTP layers. Each family follows the weights its modeling code
// creates (transformers' modeling_<type>.py, vLLM's vllm/model_executor/models/<type>.py and
// mamba_ssm's modules); docs/budget-vllm.md lists them.
#include "ssmkit/model/param_count.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "config_reader.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/json_input.hpp"
#include "ssmkit/model/model_spec.hpp"

namespace ssmkit {
namespace {

using config_keys::ConfigReader;
using config_keys::json;

class Parts {
 public:
  explicit Parts(std::vector<ParameterPart>& out) : out_(out) {}
  void add(const std::string& name, std::int64_t count, bool sharded = true, bool quantizable = false) {
    if (count == 0) return;
    for (ParameterPart& p : out_) {
      if (p.name == name && p.sharded == sharded && p.quantizable == quantizable) {
        p.count += count;
        return;
      }
    }
    out_.push_back(ParameterPart{name, count, sharded, quantizable});
  }
  // A linear layer's weight (and its bias, kept in the model dtype).
  void linear(const std::string& name, std::int64_t in, std::int64_t out, bool bias = false, bool sharded = true) {
    add(name, in * out, sharded, true);
    if (bias) add(name, out, sharded, false);
  }
  void norm(std::int64_t size, std::int64_t times = 1) { add("norms", size * times, false, false); }

 private:
  std::vector<ParameterPart>& out_;
};

std::int64_t cdiv(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// dt_rank "auto" (or absent) is ceil(hidden / 16) in every Mamba1 implementation.
std::int64_t dt_rank(const ConfigReader& r, const std::string& key, std::int64_t hidden) {
  if (!r.has(key) || (r.at(key, "").is_string() && r.string(key) == "auto")) return cdiv(hidden, 16);
  return r.positive(key);
}

// Mamba1 mixer (transformers' MambaMixer / JambaMambaMixer, mamba_ssm's Mamba): in_proj to x|z,
// a depthwise conv, x_proj to dt|B|C, dt_proj, A_log, D, out_proj. Jamba adds RMS norms over
// dt, B and C.
void mamba1(Parts& p, std::int64_t h, std::int64_t inner, std::int64_t n, std::int64_t w, std::int64_t rank,
            bool bias, bool conv_bias, bool dt_norms) {
  p.linear("mamba", h, 2 * inner, bias);
  p.add("mamba", inner * w + (conv_bias ? inner : 0));
  p.linear("mamba", inner, rank + 2 * n);
  p.linear("mamba", rank, inner, true);
  p.add("mamba", inner * n + inner);  // A_log, D
  p.linear("mamba", inner, h, bias);
  if (dt_norms) p.norm(rank + 2 * n);
}

// Mamba2 mixer (mamba_ssm's Mamba2, transformers' Mamba2Mixer / NemotronHMamba2Mixer): one
// in_proj to z|x|B|C|dt, a conv over x|B|C, dt_bias, A_log and D per head, a gated RMS norm
// over the inner channels, out_proj.
void mamba2(Parts& p, std::int64_t h, const Mamba2LayerSpec& s, bool bias, bool conv_bias) {
  const std::int64_t conv_dim = s.intermediate_size + 2 * s.n_groups * s.d_state;
  p.linear("mamba", h, s.intermediate_size + conv_dim + s.num_heads, bias);
  p.add("mamba", conv_dim * s.conv_kernel + (conv_bias ? conv_dim : 0));
  p.add("mamba", 3 * s.num_heads);
  p.add("mamba", s.intermediate_size, true, false);  // the gated norm's weight, sharded with the channels
  p.linear("mamba", s.intermediate_size, h, bias);
}

void attention(Parts& p, std::int64_t h, const AttentionLayerSpec& a, bool qkv_bias, bool o_bias, bool gated_q,
               bool qk_norm) {
  const std::int64_t q = a.num_heads * a.head_dim, kv = a.kv_heads * a.head_dim;
  p.linear("attention", h, gated_q ? 2 * q : q, qkv_bias);
  p.linear("attention", h, 2 * kv, qkv_bias);
  p.linear("attention", q, h, o_bias);
  if (qk_norm) p.norm(a.head_dim, 2);
}

// Multi-head latent attention (DeepSeek-V2's, Kimi-Linear's full-attention layers).
void mla(Parts& p, const ConfigReader& r, std::int64_t h, const MlaLayerSpec& s) {
  const std::int64_t nope = r.positive("qk_nope_head_dim");
  const std::int64_t v = r.positive("v_head_dim");
  const std::int64_t q_out = s.num_heads * (nope + s.qk_rope_head_dim);
  if (r.has("q_lora_rank")) {
    const std::int64_t q_lora = r.positive("q_lora_rank");
    p.linear("mla", h, q_lora);
    p.norm(q_lora);
    p.linear("mla", q_lora, q_out);
  } else {
    p.linear("mla", h, q_out);
  }
  p.linear("mla", h, s.kv_lora_rank + s.qk_rope_head_dim, false, false);  // kv_a_proj_with_mqa: replicated
  p.norm(s.kv_lora_rank);
  p.linear("mla", s.kv_lora_rank, s.num_heads * (nope + v));
  p.linear("mla", s.num_heads * v, h);
}

// Gated DeltaNet (Qwen3-Next / Qwen3.5): in_proj_qkvz, in_proj_ba, a conv over q|k|v without
// bias, dt_bias and A_log per value head, a gated norm over head_v_dim, out_proj.
void gated_delta_net(Parts& p, std::int64_t h, const DeltaNetLayerSpec& s) {
  const std::int64_t key = s.num_k_heads * s.head_k_dim, value = s.num_v_heads * s.head_v_dim;
  p.linear("gated deltanet", h, 2 * key + 2 * value);
  p.linear("gated deltanet", h, 2 * s.num_v_heads);
  p.add("gated deltanet", s.conv_channels() * s.conv_kernel);
  p.add("gated deltanet", 2 * s.num_v_heads);
  p.norm(s.head_v_dim);
  p.linear("gated deltanet", value, h);
}

// KDA (vllm/model_executor/layers/kda.py KimiDeltaAttention): q, k, v projections and one conv
// each, the decay's low-rank f_a/f_b, dt_bias per channel, beta's b_proj, A_log per head, the
// output gate's g_a/g_b, a norm over head_dim, o_proj. f_a and g_a are ReplicatedLinear.
void kda(Parts& p, std::int64_t h, const DeltaNetLayerSpec& s) {
  const std::int64_t proj = s.num_v_heads * s.head_v_dim;
  p.linear("kda", h, 3 * proj);
  p.add("kda", 3 * proj * s.conv_kernel);
  p.linear("kda", h, s.head_v_dim, false, false);
  p.linear("kda", s.head_v_dim, proj);
  p.add("kda", proj + s.num_v_heads);  // dt_bias, A_log
  p.linear("kda", h, s.num_v_heads);
  p.linear("kda", h, s.head_v_dim, false, false);
  p.linear("kda", s.head_v_dim, proj);
  p.norm(s.head_v_dim);
  p.linear("kda", proj, h);
}

// The feed-forward block of a transformer-style decoder layer: a gated MLP (gate, up, down) or
// a mixture of experts with its router and shared experts. Which layers are sparse follows
// each family's keys: decoder_sparse_step / mlp_only_layers (Qwen MoE), first_k_dense_replace /
// moe_layer_freq (DeepSeek style, Kimi-Linear), expert_layer_period / expert_layer_offset (Jamba).
struct FeedForward {
  std::int64_t experts = 0;
  // Qwen3-Next / Qwen3.5 MoE blocks always hold a shared expert: its size is a key the count
  // needs, not an optional one.
  bool shared_expert_required = false;
  bool sparse(const ConfigReader& r, std::int64_t layer) const {
    if (experts <= 1) return false;
    if (r.has("mlp_only_layers")) {
      const auto only = r.integers("mlp_only_layers");
      if (std::find(only.begin(), only.end(), layer) != only.end()) return false;
    }
    if (r.has("expert_layer_period")) {
      return layer % r.positive("expert_layer_period") == r.integer("expert_layer_offset");
    }
    if (r.has("first_k_dense_replace") && layer < r.integer("first_k_dense_replace")) return false;
    if (r.has("moe_layer_freq") && layer % r.positive("moe_layer_freq") != 0) return false;
    if (r.has("decoder_sparse_step")) return (layer + 1) % r.positive("decoder_sparse_step") == 0;
    return true;
  }
  void add(Parts& p, const ConfigReader& r, std::int64_t h, std::int64_t layer) const {
    if (!sparse(r, layer)) {
      p.linear("mlp", h, 3 * r.positive("intermediate_size"));
      return;
    }
    const std::int64_t expert = r.has("moe_intermediate_size") ? r.positive("moe_intermediate_size")
                                                                : r.positive("intermediate_size");
    p.add("moe experts", experts * 3 * h * expert, true, true);
    p.add("moe router", experts * h, false, false);
    if (shared_expert_required || r.has("shared_expert_intermediate_size")) {  // Qwen MoE: one shared expert and its gate
      p.linear("moe shared experts", h, 3 * r.positive("shared_expert_intermediate_size"));
      p.add("moe router", h, false, false);
    } else if (r.has("num_shared_experts") || r.has("n_shared_experts")) {
      const std::int64_t shared = r.has("num_shared_experts") ? r.integer("num_shared_experts")
                                                               : r.integer("n_shared_experts");
      p.linear("moe shared experts", h, 3 * shared * expert);
    }
  }
};

FeedForward feed_forward(const ConfigReader& r) {
  FeedForward f;
  for (const char* key : {"num_experts", "num_local_experts", "n_routed_experts"}) {
    if (r.has(key)) {
      f.experts = r.integer(key);
      break;
    }
  }
  if (f.experts < 0) r.fail("num_experts", "0 or more experts, got " + std::to_string(f.experts));
  return f;
}

void embeddings(Parts& p, const ConfigReader& r, std::int64_t h, std::int64_t vocab, bool tied_default,
                const std::string& tie_key = "tie_word_embeddings") {
  p.add("embeddings", vocab * h);
  if (!r.boolean_or(tie_key, tied_default)) p.add("lm head", vocab * h);
}

// The mixers of decoder layer d, in order.
std::vector<LayerKind> mixers_of(const ModelSpec& m, std::int64_t d) {
  std::vector<LayerKind> out;
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    if (m.decoder_layer_of(i) == d) out.push_back(m.layers[i]);
  }
  return out;
}

// Every decoder layer: `norms` norms of the hidden size, each of its mixers (mixer(kind)), then
// after(layer) (the feed-forward block where the family has one); then the final norm.
template <class Mixer, class After>
void each_layer(Parts& p, const ModelSpec& m, std::int64_t h, std::int64_t norms, Mixer mixer, After after) {
  for (std::int64_t d = 0; d < m.decoder_layers(); ++d) {
    p.norm(h, norms);
    for (const LayerKind k : mixers_of(m, d)) mixer(k);
    after(d);
  }
  p.norm(h);
}

void no_feed_forward(std::int64_t) {}

void count_mamba(Parts& p, const ConfigReader& r, const ModelSpec& m) {
  const std::int64_t h = r.positive("hidden_size");
  const MambaLayerSpec& s = *m.mamba;
  const bool bias = r.boolean_or("use_bias", false), conv_bias = r.boolean_or("use_conv_bias", true);
  const std::int64_t rank = dt_rank(r, "time_step_rank", h);
  each_layer(p, m, h, 1,
             [&](LayerKind) { mamba1(p, h, s.intermediate_size, s.d_state, s.conv_kernel, rank, bias, conv_bias, false); },
             no_feed_forward);
  embeddings(p, r, h, r.positive("vocab_size"), true);  // MambaConfig keeps PretrainedConfig's tying
}

void count_mamba2(Parts& p, const ConfigReader& r, const ModelSpec& m) {
  const std::int64_t h = r.positive("hidden_size");
  const bool bias = r.boolean_or("use_bias", false), conv_bias = r.boolean_or("use_conv_bias", true);
  each_layer(p, m, h, 1, [&](LayerKind) { mamba2(p, h, *m.mamba2, bias, conv_bias); }, no_feed_forward);
  embeddings(p, r, h, r.positive("vocab_size"), false);  // Mamba2Config: tie_word_embeddings False
}

// mamba_ssm's MambaLMHeadModel: the vocabulary padded to pad_vocab_size_multiple (default 8),
// tie_embeddings default true, a gated MLP of d_intermediate when nonzero, MHA layers with
// biased qkv and out projections (mamba_ssm/modules/mha.py defaults).
void count_mamba_ssm(Parts& p, const ConfigReader& r, const ModelSpec& m) {
  const std::int64_t h = r.positive("d_model");
  const std::int64_t mlp = r.has("d_intermediate") ? r.integer("d_intermediate") : 0;
  const json empty = json::object();
  const ConfigReader ssm = r.has("ssm_cfg") ? r.object("ssm_cfg") : ConfigReader(empty, r.where());
  const bool bias = ssm.boolean_or("bias", false), conv_bias = ssm.boolean_or("conv_bias", true);
  const auto mixer = [&](LayerKind k) {
    if (k == LayerKind::mamba) {
      const MambaLayerSpec& s = *m.mamba;
      mamba1(p, h, s.intermediate_size, s.d_state, s.conv_kernel, dt_rank(ssm, "dt_rank", h), bias, conv_bias, false);
    } else if (k == LayerKind::mamba2) {
      mamba2(p, h, *m.mamba2, bias, conv_bias);
    } else {
      attention(p, h, *m.attention, true, true, false, false);
    }
  };
  each_layer(p, m, h, 1, mixer, [&](std::int64_t) {
    if (mlp > 0) {
      p.norm(h);
      p.linear("mlp", h, 2 * mlp);
      p.linear("mlp", mlp, h);
    }
  });
  const std::int64_t multiple = r.positive_or("pad_vocab_size_multiple", 8);
  embeddings(p, r, h, cdiv(r.positive("vocab_size"), multiple) * multiple, true, "tie_embeddings");
}

void count_jamba(Parts& p, const ConfigReader& r, const ModelSpec& m) {
  const std::int64_t h = r.positive("hidden_size");
  const FeedForward ff = feed_forward(r);
  const bool proj_bias = r.boolean_or("mamba_proj_bias", false), conv_bias = r.boolean_or("mamba_conv_bias", true);
  const auto mixer = [&](LayerKind k) {
    if (k == LayerKind::attention) {
      attention(p, h, *m.attention, false, false, false, false);
    } else {
      const MambaLayerSpec& s = *m.mamba;
      mamba1(p, h, s.intermediate_size, s.d_state, s.conv_kernel, dt_rank(r, "mamba_dt_rank", h), proj_bias,
             conv_bias, true);
    }
  };
  each_layer(p, m, h, 2, mixer, [&](std::int64_t d) { ff.add(p, r, h, d); });
  embeddings(p, r, h, r.positive("vocab_size"), false);  // JambaConfig: tie_word_embeddings False
}

// Nemotron-H: one mixer per block ('M' Mamba2, '*' attention, '-' a two-matrix MLP: up and down
// with a squared ReLU, no gate), each block with one norm.
void count_nemotron_h(Parts& p, const ConfigReader& r, const ModelSpec& m) {
  const std::int64_t h = r.positive("hidden_size");
  const std::string pattern = r.string("hybrid_override_pattern");
  const bool bias = r.boolean_or("use_bias", false), conv_bias = r.boolean_or("use_conv_bias", true);
  const bool mlp_bias = r.boolean_or("mlp_bias", false), attn_bias = r.boolean_or("attention_bias", false);
  for (std::size_t d = 0; d < pattern.size(); ++d) {
    p.norm(h);
    if (pattern[d] == 'M') {
      mamba2(p, h, *m.mamba2, bias, conv_bias);
    } else if (pattern[d] == '*') {
      attention(p, h, *m.attention, attn_bias, attn_bias, false, false);
    } else if (pattern[d] == '-') {
      const std::int64_t inter = r.positive("intermediate_size");
      p.linear("mlp", h, inter, mlp_bias);
      p.linear("mlp", inter, h, mlp_bias);
    } else {
      r.fail("hybrid_override_pattern[" + std::to_string(d) + "]",
             "M, * or - for the parameter count (MoE blocks 'E' are not counted yet; give --reserve SIZE), got '" +
                 std::string(1, pattern[d]) + "'");
    }
  }
  p.norm(h);
  embeddings(p, r, h, r.positive("vocab_size"), false);
}

// Granite-4.0-H (granitemoehybrid; transformers' GraniteMoeHybridDecoderLayer): two norms, a
// Mamba2 or attention mixer, then experts of intermediate_size with a router when
// num_local_experts > 0, and the shared MLP (gate, up, down of shared_intermediate_size).
void count_granite_hybrid(Parts& p, const ConfigReader& r, const ModelSpec& m) {
  const std::int64_t h = r.positive("hidden_size");
  const std::int64_t experts = r.has("num_local_experts") ? r.integer("num_local_experts") : 0;
  const std::int64_t shared = r.has("shared_intermediate_size") ? r.integer("shared_intermediate_size") : 0;
  if (!r.has("num_local_experts") && !r.has("shared_intermediate_size")) {
    r.fail("num_local_experts / shared_intermediate_size", "the MoE and shared MLP sizes, the keys are missing");
  }
  if (experts < 0 || shared < 0 || (experts == 0 && shared == 0)) {
    r.fail("shared_intermediate_size", "a positive MLP size (or num_local_experts > 0), got " + std::to_string(shared));
  }
  const bool proj_bias = r.boolean_or("mamba_proj_bias", false), conv_bias = r.boolean_or("mamba_conv_bias", true);
  const bool attn_bias = r.boolean_or("attention_bias", false);
  const auto mixer = [&](LayerKind k) {
    if (k == LayerKind::attention) attention(p, h, *m.attention, attn_bias, attn_bias, false, false);
    else mamba2(p, h, *m.mamba2, proj_bias, conv_bias);
  };
  each_layer(p, m, h, 2, mixer, [&](std::int64_t) {
    if (experts > 0) {
      p.add("moe experts", experts * 3 * h * r.positive("intermediate_size"), true, true);
      p.add("moe router", experts * h, false, false);
    }
    if (shared > 0) p.linear(experts > 0 ? "moe shared experts" : "mlp", h, 3 * shared);
  });
  embeddings(p, r, h, r.positive("vocab_size"), false);
}

// MiniMax-Text-01 / M1 (vLLM's minimax_text_01.py): two norms; a lightning layer's fused qkv
// projection, output gate, norm over heads x head_dim and out_proj, or softmax attention; a
// MoE block of num_local_experts experts of intermediate_size with a router.
void count_minimax(Parts& p, const ConfigReader& r, const ModelSpec& m) {
  const std::int64_t h = r.positive("hidden_size");
  const FeedForward ff = feed_forward(r);
  const auto mixer = [&](LayerKind k) {
    if (k == LayerKind::attention) {
      attention(p, h, *m.attention, false, false, false, false);
      return;
    }
    const std::int64_t inner = m.linear_attention->num_heads * m.linear_attention->key_dim;
    p.linear("lightning attention", h, 3 * inner);
    p.linear("lightning attention", h, inner);
    p.add("lightning attention", inner);  // its norm, sharded with the heads
    p.linear("lightning attention", inner, h);
  };
  each_layer(p, m, h, 2, mixer, [&](std::int64_t d) { ff.add(p, r, h, d); });
  embeddings(p, r, h, r.positive("vocab_size"), false);
}

// Transformer-style decoders: attention-only types, Qwen3-Next / Qwen3.5 and Kimi-Linear. Two
// norms per layer, a mixer, the feed-forward block.
void count_transformer(Parts& p, const ConfigReader& r, const ModelSpec& m, const std::string& type) {
  const std::int64_t h = r.positive("hidden_size");
  const bool qwen_next = type.rfind("qwen3_next", 0) == 0 || type.rfind("qwen3_5", 0) == 0;
  FeedForward ff = feed_forward(r);
  ff.shared_expert_required = qwen_next;
  const bool qk_norm = qwen_next || type.rfind("qwen3", 0) == 0;
  const bool qkv_bias = type == "qwen2" || type == "qwen2_moe" || r.boolean_or("attention_bias", false);
  const bool o_bias = r.boolean_or("attention_bias", false);
  const auto mixer = [&](LayerKind k) {
    switch (k) {
      case LayerKind::attention: attention(p, h, *m.attention, qkv_bias, o_bias, qwen_next, qk_norm); break;
      case LayerKind::gated_delta_net: gated_delta_net(p, h, *m.gated_delta_net); break;
      case LayerKind::kda: kda(p, h, *m.kda); break;
      case LayerKind::mla: mla(p, r, h, *m.mla); break;
      default: r.fail("model_type", "a layer kind the parameter count knows for \"" + type + "\"");
    }
  };
  each_layer(p, m, h, 2, mixer, [&](std::int64_t d) { ff.add(p, r, h, d); });
  embeddings(p, r, h, r.positive("vocab_size"), false);
}

// Qwen3-Next / Qwen3.5 MTP (vllm/model_executor/models/qwen3_next_mtp.py
// Qwen3NextMultiTokenPredictor): per layer an fc from 2 * hidden to hidden, a full-attention
// decoder layer with its MoE block, and the pre-fc norms of the hidden state and the
// embedding, plus one final norm; the embeddings and the LM head are the target model's.
void count_qwen_mtp(Parts& p, const ConfigReader& r, const ModelSpec& m, std::int64_t layers) {
  const std::int64_t h = r.positive("hidden_size");
  FeedForward ff = feed_forward(r);
  ff.shared_expert_required = true;
  for (std::int64_t i = 0; i < layers; ++i) {
    p.linear("mtp", 2 * h, h);
    p.norm(h, 2);  // pre_fc_norm_hidden, pre_fc_norm_embedding
    p.norm(h, 2);  // the decoder layer's input and post-attention norms
    attention(p, h, *m.attention, false, false, true, true);
    ff.add(p, r, h, m.decoder_layers() + i);
  }
  p.norm(h);
}

// The MTP layers a config declares: num_nextn_predict_layers (what vLLM's Qwen3-Next MTP
// reads, default 1 for qwen3_next, whose published config.json omits it) or
// mtp_num_hidden_layers (Qwen3.5).
std::int64_t mtp_layers(const ConfigReader& r, const std::string& type) {
  if (r.has("num_nextn_predict_layers")) return r.integer("num_nextn_predict_layers");
  if (r.has("mtp_num_hidden_layers")) return r.integer("mtp_num_hidden_layers");
  return type == "qwen3_next" ? 1 : 0;
}

}  // namespace

std::int64_t ParameterCount::total() const {
  std::int64_t n = 0;
  for (const auto& p : parts) n += p.count;
  return n;
}

std::int64_t ParameterCount::mtp_total() const {
  std::int64_t n = 0;
  for (const auto& p : mtp_parts) n += p.count;
  return n;
}

namespace {

ParameterCount count(std::string_view text, const std::string& where) {
  const ModelSpec m = parse_hf_config(text, where);
  const json config = parse_json_input(std::string(text), where, "a config.json");
  const ConfigReader top(config, where);
  ParameterCount c;
  Parts parts(c.parts);
  if (!top.has("model_type")) {
    c.model_type = "mamba_ssm";
    count_mamba_ssm(parts, top, m);
    return c;
  }
  std::string type = top.string("model_type");
  const bool nested = top.has("text_config") && !top.has("num_hidden_layers");
  const ConfigReader r = nested ? top.object("text_config") : top;
  if (nested && r.has("model_type")) type = r.string("model_type");
  c.model_type = type;
  if (type == "mamba" || type == "falcon_mamba") {
    count_mamba(parts, r, m);
  } else if (type == "mamba2") {
    count_mamba2(parts, r, m);
  } else if (type == "jamba") {
    count_jamba(parts, r, m);
  } else if (type == "nemotron_h") {
    count_nemotron_h(parts, r, m);
  } else if (type == "granitemoehybrid") {
    count_granite_hybrid(parts, r, m);
  } else if (type == "minimax" || type == "minimax_text_01" || type == "minimax_m1") {
    count_minimax(parts, r, m);
  } else if (type.rfind("qwen3_next", 0) == 0 || type.rfind("qwen3_5", 0) == 0 || type == "kimi_linear" ||
             (m.count(LayerKind::attention) == static_cast<std::int64_t>(m.layers.size()) && m.attention)) {
    count_transformer(parts, r, m, type);
    if (type.rfind("qwen3_next", 0) == 0 || type.rfind("qwen3_5", 0) == 0) {
      c.mtp_layers = mtp_layers(r, type);
      if (c.mtp_layers < 0 || c.mtp_layers > 64) {
        r.fail("num_nextn_predict_layers", "0 to 64 MTP layers, got " + std::to_string(c.mtp_layers));
      }
      Parts mtp(c.mtp_parts);
      count_qwen_mtp(mtp, r, m, c.mtp_layers);
    }
  } else {
    r.fail("model_type", "a model type whose weights ssmkit counts (mamba, falcon_mamba, mamba2, mamba_ssm's "
                         "format, jamba, nemotron_h, granitemoehybrid, minimax, qwen3_next, qwen3_5, kimi_linear, "
                         "attention-only types), got \"" + type + "\"; --reserve SIZE can be what vLLM logs as "
                         "\"Model loading took\"");
  }
  return c;
}

}  // namespace

ParameterCount count_parameters(std::string_view text, const std::string& where) {
  try {
    return count(text, where);
  } catch (const InputError& e) {
    // A preset carries the cache keys only for some models: say how to go on without a count.
    throw InputError(e.where(), e.field(),
                     e.expected() + " (for the weights of --reserve auto; give --reserve SIZE or --kv-memory instead)");
  }
}

WeightFormat read_weight_format(std::string_view text, const std::string& where) {
  const json config = parse_json_input(std::string(text), where, "a config.json");
  const ConfigReader top(config, where);
  const bool nested = top.has("text_config") && !top.has("quantization_config");
  const ConfigReader r = nested ? top.object("text_config") : top;
  WeightFormat f;
  if (!r.has("quantization_config")) return f;
  const ConfigReader q = r.object("quantization_config");
  const std::string method = q.has("quant_method") ? q.string("quant_method") : "";
  if (q.has("bits")) {  // awq, gptq, auto-round: integers plus a 16-bit scale (and zero) per group
    const std::int64_t bits = q.positive("bits", 16);
    const std::int64_t group = q.has("group_size") ? q.integer("group_size") : 128;
    const bool zero = q.boolean_or("zero_point", !q.boolean_or("sym", true));
    double extra = 0.0;
    if (group > 0) extra = (16.0 + (zero ? static_cast<double>(bits) : 0.0)) / static_cast<double>(group);
    f.quantized_bits = static_cast<double>(bits) + extra;
    f.description = (method.empty() ? std::string("quantized") : method) + ", " + std::to_string(bits) +
                    " bits" + (group > 0 ? ", group " + std::to_string(group) : std::string(", per channel"));
  } else if (method == "fp8") {
    f.quantized_bits = 8.0;
    f.description = "fp8";
  } else if (method == "modelopt" && q.has("quant_algo")) {
    const std::string algo = q.string("quant_algo");
    if (algo == "FP8") {
      f.quantized_bits = 8.0;
    } else if (algo == "NVFP4") {  // e2m1 values and one fp8 scale per 16
      f.quantized_bits = 4.0 + 8.0 / 16.0;
    } else {
      q.fail("quant_algo", "FP8 or NVFP4 for the weight count, got \"" + algo + "\" (give --reserve SIZE)");
    }
    f.description = "modelopt " + algo;
  } else {
    q.fail("quant_method", "awq, gptq (a \"bits\" key), fp8 or modelopt FP8/NVFP4 for the weight count, got \"" +
                               method + "\" (give --reserve SIZE)");
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", f.quantized_bits);
  f.description += " (" + std::string(buf) + " bits per linear weight with scales)";
  return f;
}

std::size_t weight_bytes_per_rank(const std::vector<ParameterPart>& parts, const WeightFormat& format,
                                  std::size_t dtype_bytes, std::int64_t tp) {
  double bytes = 0.0;
  for (const ParameterPart& p : parts) {
    const std::int64_t here = p.sharded ? cdiv(p.count, tp) : p.count;
    const double per = p.quantizable && format.quantized_bits > 0 ? format.quantized_bits / 8.0
                                                                    : static_cast<double>(dtype_bytes);
    bytes += static_cast<double>(here) * per;
  }
  return static_cast<std::size_t>(std::ceil(bytes));
}

}  // namespace ssmkit
