// Model presets: the cache-relevant keys of each model's published config.json, and the
// vocabulary / MLP / MoE keys the parameter count needs (the weights of --reserve auto), read
// by the same parser as a config.json file (parse_hf_config), so a preset and its file give
// the same ModelSpec. `source` says where each number was confirmed and what was not.
#include <algorithm>
#include <array>

#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "ssmkit/names.hpp"

namespace ssmkit {
namespace {

struct Preset {
  const char* name;
  const char* source;
  const char* config;  // config.json keys, values as published
};

constexpr std::array kPresets{
    // HF repo state-spaces/mamba-130m-hf
    Preset{"mamba-130m",
           "state-spaces/mamba-130m-hf config.json (hidden_size 768, num_hidden_layers 24, "
           "intermediate_size 1536, state_size 16, conv_kernel 4; the same values in three "
           "independent copies of the file)",
           R"({"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24,
               "intermediate_size": 1536, "state_size": 16, "conv_kernel": 4, "expand": 2,
               "vocab_size": 50280})"},
    // HF repo state-spaces/mamba-2.8b-hf
    Preset{"mamba-2.8b",
           "state-spaces/mamba-2.8b-hf config.json (hidden_size 2560, num_hidden_layers 64, "
           "intermediate_size 5120, state_size 16, conv_kernel 4)",
           R"({"model_type": "mamba", "hidden_size": 2560, "num_hidden_layers": 64,
               "intermediate_size": 5120, "state_size": 16, "conv_kernel": 4, "expand": 2,
               "vocab_size": 50280})"},
    // HF repo state-spaces/mamba2-2.7b (mamba_ssm's own config format)
    Preset{"mamba2-2.7b",
           "state-spaces/mamba2-2.7b config.json (d_model 2560, n_layer 64, ssm_cfg "
           "{layer: Mamba2}); the mixer sizes are mamba_ssm's Mamba2 defaults (d_state 128, "
           "d_conv 4, expand 2, headdim 64, ngroups 1, mamba_ssm/modules/mamba2.py)",
           R"({"d_model": 2560, "d_intermediate": 0, "n_layer": 64, "vocab_size": 50277,
               "ssm_cfg": {"layer": "Mamba2"}, "attn_layer_idx": [], "attn_cfg": {},
               "pad_vocab_size_multiple": 16, "tie_embeddings": true})"},
    // HF repo ai21labs/Jamba-v0.1
    Preset{"Jamba-v0.1",
           "ai21labs/Jamba-v0.1 config.json (the values also are transformers' JambaConfig "
           "defaults); attention where layer % attn_layer_period == attn_layer_offset "
           "(layers 4, 12, 20, 28), Mamba1 elsewhere",
           R"({"model_type": "jamba", "hidden_size": 4096, "num_hidden_layers": 32,
               "num_attention_heads": 32, "num_key_value_heads": 8,
               "attn_layer_period": 8, "attn_layer_offset": 4,
               "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2,
               "max_position_embeddings": 262144, "vocab_size": 65536,
               "intermediate_size": 14336, "num_experts": 16, "num_experts_per_tok": 2,
               "expert_layer_period": 2, "expert_layer_offset": 1,
               "tie_word_embeddings": false})"},
    // HF repo Zyphra/Zamba2-2.7B
    Preset{"Zamba2-2.7B",
           "Zyphra/Zamba2-2.7B: hidden 2560, 54 layers, d_state 64, conv 4, expand 2, 32 "
           "attention heads and the layer mapping from Zyphra/Zamba2's config.json (also "
           "transformers' Zamba2Config defaults); n_mamba_heads 80 from that repo's "
           "mamba_headdim default 64 and ngroups default 1 (5120 / 64), num_key_value_heads "
           "32 (num_mem_heads) and max_position_embeddings 4096 (transformers' default) not "
           "seen in the HF config.json itself. 9 hybrid layers invoke the 2 shared attention "
           "blocks, each invocation with its own KV cache",
           R"({"model_type": "zamba2", "hidden_size": 2560, "num_hidden_layers": 54,
               "layers_block_type": [
                 "mamba", "mamba", "mamba", "mamba", "mamba", "mamba", "hybrid", "mamba", "mamba",
                 "mamba", "mamba", "mamba", "hybrid", "mamba", "mamba", "mamba", "mamba", "mamba",
                 "hybrid", "mamba", "mamba", "mamba", "mamba", "mamba", "hybrid", "mamba", "mamba",
                 "mamba", "mamba", "mamba", "hybrid", "mamba", "mamba", "mamba", "mamba", "mamba",
                 "hybrid", "mamba", "mamba", "mamba", "mamba", "mamba", "hybrid", "mamba", "mamba",
                 "mamba", "mamba", "hybrid", "mamba", "mamba", "mamba", "hybrid", "mamba", "mamba"],
               "mamba_d_state": 64, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_ngroups": 1,
               "n_mamba_heads": 80, "num_attention_heads": 32, "num_key_value_heads": 32,
               "max_position_embeddings": 4096})"},
    // HF repo tiiuae/Falcon-H1-7B-Instruct
    Preset{"Falcon-H1-7B",
           "tiiuae/Falcon-H1-7B-Instruct config.json as quoted by two independent third-party "
           "copies; matches the H1 7B row of transformers' falcon_h1.md (44 layers, 12 heads, "
           "2 KV, 24 Mamba heads, head dims 128/128, d_state 256). Attention and Mamba2 run in "
           "parallel in every layer",
           R"({"model_type": "falcon_h1", "hidden_size": 3072, "num_hidden_layers": 44,
               "num_attention_heads": 12, "num_key_value_heads": 2, "head_dim": 128,
               "mamba_d_ssm": 3072, "mamba_n_heads": 24, "mamba_d_head": 128,
               "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4, "mamba_expand": 2,
               "max_position_embeddings": 262144})"},
    // HF repo nvidia/Nemotron-H-8B-Base-8K
    Preset{"Nemotron-H-8B",
           "nvidia/Nemotron-H-8B-Base-8K config.json (as quoted in Megatron-Bridge's tests and "
           "two other copies): 52 layers, 24 Mamba2 ('M'), 4 attention ('*', layers 7, 18, 29, "
           "40), 24 MLP-only ('-', no cache)",
           R"({"model_type": "nemotron_h", "hidden_size": 4096, "num_hidden_layers": 52,
               "hybrid_override_pattern": "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-",
               "num_attention_heads": 32, "num_key_value_heads": 8, "attention_head_dim": 128,
               "mamba_num_heads": 128, "mamba_head_dim": 64, "n_groups": 8,
               "ssm_state_size": 128, "conv_kernel": 4, "expand": 2,
               "max_position_embeddings": 8192, "vocab_size": 131072,
               "intermediate_size": 21504, "tie_word_embeddings": false})"},
    // HF repo ibm-granite/granite-4.0-h-tiny
    Preset{"Granite-4.0-H-Tiny",
           "ibm-granite/granite-4.0-h-tiny config.json as quoted by third-party test fixtures "
           "(Mamba sizes in two independent copies); 4 attention layers of 40 as IBM states; "
           "their positions (5, 15, 25, 35) were seen in one copy only",
           R"({"model_type": "granitemoehybrid", "hidden_size": 1536, "num_hidden_layers": 40,
               "num_attention_heads": 12, "num_key_value_heads": 4,
               "mamba_n_heads": 48, "mamba_d_head": 64, "mamba_n_groups": 1,
               "mamba_d_state": 128, "mamba_d_conv": 4, "mamba_expand": 2,
               "max_position_embeddings": 131072,
               "layer_types": [
                 "mamba", "mamba", "mamba", "mamba", "mamba", "attention", "mamba", "mamba",
                 "mamba", "mamba", "mamba", "mamba", "mamba", "mamba", "mamba", "attention",
                 "mamba", "mamba", "mamba", "mamba", "mamba", "mamba", "mamba", "mamba",
                 "mamba", "attention", "mamba", "mamba", "mamba", "mamba", "mamba", "mamba",
                 "mamba", "mamba", "mamba", "attention", "mamba", "mamba", "mamba", "mamba"]})"},
    // HF repo MiniMaxAI/MiniMax-Text-01
    Preset{"MiniMax-Text-01",
           "MiniMaxAI/MiniMax-Text-01: 80 layers, a softmax attention layer after every 7 "
           "lightning layers (layers 7, 15, ..., 79), 64 heads of 128, hidden 6144 "
           "(transformers' minimax.md); num_key_value_heads 8 and max_position_embeddings "
           "10240000 from copies of the -hf and MiniMax-M1 config.json (same architecture), as are "
           "vocab_size 200064, intermediate_size 9216 and 32 local experts (the parameter count's keys), "
           "not the Text-01 file itself. Lightning state per layer (heads, 128, 128) as vLLM's "
           "linear_attention_state_shape",
           R"({"model_type": "minimax_text_01", "hidden_size": 6144, "num_hidden_layers": 80,
               "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128,
               "max_position_embeddings": 10240000, "vocab_size": 200064,
               "intermediate_size": 9216, "num_local_experts": 32, "num_experts_per_tok": 2,
               "tie_word_embeddings": false,
               "attn_type_list": [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
                                  0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
                                  0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
                                  0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
                                  0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]})"},
    // HF repo Qwen/Qwen3-Next-80B-A3B-Instruct
    Preset{"Qwen3-Next-80B-A3B",
           "Qwen/Qwen3-Next-80B-A3B-Instruct config.json: full_attention_interval 4, head_dim "
           "256, hidden_size 2048, linear_num_key_heads 16, linear_num_value_heads 32, "
           "linear_key_head_dim 128, linear_value_head_dim 128, linear_conv_kernel_dim 4, "
           "max_position_embeddings 262144 as transcribed on a third-party model page; "
           "num_hidden_layers 48, num_attention_heads 16, num_key_value_heads 2 from a "
           "third-party transcription of the same architecture's release config (Qwen3-Coder-"
           "Next, every key above equal) and a third-party spec page; transformers' "
           "Qwen3NextConfig defaults are this model's. 36 Gated DeltaNet layers, full "
           "attention at layers 3, 7, ..., 47",
           R"({"model_type": "qwen3_next", "hidden_size": 2048, "num_hidden_layers": 48,
               "full_attention_interval": 4, "num_attention_heads": 16,
               "num_key_value_heads": 2, "head_dim": 256,
               "linear_num_key_heads": 16, "linear_num_value_heads": 32,
               "linear_key_head_dim": 128, "linear_value_head_dim": 128,
               "linear_conv_kernel_dim": 4, "max_position_embeddings": 262144,
               "vocab_size": 151936, "intermediate_size": 5120, "num_experts": 512,
               "num_experts_per_tok": 10, "moe_intermediate_size": 512,
               "shared_expert_intermediate_size": 512, "decoder_sparse_step": 1,
               "mlp_only_layers": [], "tie_word_embeddings": false})"},
    // HF repo moonshotai/Kimi-Linear-48B-A3B-Instruct
    Preset{"Kimi-Linear-48B-A3B",
           "moonshotai/Kimi-Linear-48B-A3B-Instruct config.json as pinned in two independent "
           "third-party copies (27 layers, linear_attn_config {num_heads 32, head_dim 128, "
           "short_conv_kernel_size 4, full_attn_layers [4, 8, 12, 16, 20, 24, 27], kda_layers "
           "the other 20, 1-based}, kv_lora_rank 512, qk_rope_head_dim 64, 32 attention "
           "heads); model_max_length 1048576 from a third copy and transformers' "
           "KimiLinearConfig default. 20 KDA layers, 7 MLA layers with a latent row of "
           "512 + 64 per token",
           R"({"model_type": "kimi_linear", "hidden_size": 2304, "num_hidden_layers": 27,
               "num_attention_heads": 32, "num_key_value_heads": 32,
               "kv_lora_rank": 512, "q_lora_rank": null, "qk_nope_head_dim": 128,
               "qk_rope_head_dim": 64, "v_head_dim": 128, "model_max_length": 1048576,
               "vocab_size": 163840, "intermediate_size": 9216, "moe_intermediate_size": 1024,
               "num_experts": 256, "num_experts_per_token": 8, "num_shared_experts": 1,
               "first_k_dense_replace": 1, "tie_word_embeddings": false,
               "linear_attn_config": {"num_heads": 32, "head_dim": 128,
                 "short_conv_kernel_size": 4, "full_attn_layers": [4, 8, 12, 16, 20, 24, 27],
                 "kda_layers": [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19, 21, 22,
                                23, 25, 26]}})"},
    // HF repo meta-llama/Llama-3.1-8B: an attention-only model to compare against
    Preset{"Llama-3.1-8B",
           "meta-llama/Llama-3.1-8B config.json as quoted in a third-party benchmark "
           "(32 layers, 32 heads, 8 KV heads, hidden 4096, max_position_embeddings 131072)",
           R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
               "num_attention_heads": 32, "num_key_value_heads": 8,
               "max_position_embeddings": 131072, "vocab_size": 128256,
               "intermediate_size": 14336, "tie_word_embeddings": false})"},
};

}  // namespace

std::vector<std::string> model_preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.emplace_back(p.name);
  return names;
}

std::optional<std::string> find_model_preset(std::string_view name) {
  for (const Preset& p : kPresets) {
    if (equals_ignoring_case(p.name, name)) return std::string(p.name);
  }
  return std::nullopt;
}

namespace {
const Preset& find_preset(std::string_view name) {
  const auto it = std::find_if(kPresets.begin(), kPresets.end(),
                               [&](const Preset& p) { return equals_ignoring_case(p.name, name); });
  if (it == kPresets.end()) {
    std::string known;
    for (const Preset& p : kPresets) known += (known.empty() ? "" : ", ") + std::string(p.name);
    throw InputError("model", std::string(name),
                     "a preset (" + known + ") or the path of a config.json");
  }
  return *it;
}
}  // namespace

std::string model_preset_config(std::string_view name) { return find_preset(name).config; }

ModelSpec model_preset(std::string_view name) {
  const Preset* it = &find_preset(name);
  ModelSpec m = parse_hf_config(it->config, "preset " + std::string(it->name));
  m.name = it->name;
  m.source = it->source;
  return m;
}

}  // namespace ssmkit
