// Reading HF config.json files: every supported model type, and errors that name the file
// and the key.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

std::filesystem::path write(const test::TempDir& dir, const std::string& name,
                            const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path;
}

using test::error_of;

void expect_same_layout(const ModelSpec& a, const ModelSpec& b) {
  EXPECT_EQ(a.layers, b.layers);
  EXPECT_EQ(a.decoder_layers(), b.decoder_layers());
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(a.decoder_layer_of(i), b.decoder_layer_of(i)) << i;
  }
}

TEST(HfConfig, AFileReadsLikeThePresetWithTheSameKeys) {
  const test::TempDir dir;
  const auto path = write(dir, "config.json", R"({
    "architectures": ["JambaForCausalLM"], "model_type": "jamba", "hidden_size": 4096,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "attn_layer_period": 8, "attn_layer_offset": 4, "mamba_d_state": 16, "mamba_d_conv": 4,
    "mamba_expand": 2, "max_position_embeddings": 262144, "vocab_size": 65536,
    "torch_dtype": "bfloat16"})");
  const ModelSpec file = load_hf_config(path);
  const ModelSpec preset = model_preset("Jamba-v0.1");
  expect_same_layout(file, preset);
  EXPECT_EQ(file.attention->kv_heads, preset.attention->kv_heads);
  EXPECT_EQ(file.mamba->intermediate_size, preset.mamba->intermediate_size);
  EXPECT_EQ(file.name, path.string());
  EXPECT_NE(file.source.find("jamba"), std::string::npos);
  EXPECT_EQ(resolve_model(path.string()).layers, file.layers);
  EXPECT_EQ(resolve_model(dir.path().string()).layers, file.layers);  // the directory
}

TEST(HfConfig, PlainAttentionModels) {
  // head_dim from hidden_size / num_attention_heads; KV heads default to the heads.
  const ModelSpec llama = parse_hf_config(
      R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
          "num_attention_heads": 32, "max_position_embeddings": 4096})", "llama2");
  EXPECT_EQ(llama.count(LayerKind::attention), 32);
  EXPECT_EQ(llama.attention->kv_heads, 32);
  EXPECT_EQ(llama.attention->head_dim, 128);
  // An explicit head_dim wins (Qwen3, Gemma).
  const ModelSpec qwen = parse_hf_config(
      R"({"model_type": "qwen3", "hidden_size": 5120, "num_hidden_layers": 64,
          "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128,
          "max_position_embeddings": 40960})", "qwen3");
  EXPECT_EQ(qwen.attention->head_dim, 128);
  EXPECT_EQ(qwen.attention->kv_heads, 8);
  // Sliding-window layers are refused, not sized as full attention.
  const InputError e = error_of([] {
    parse_hf_config(R"({"model_type": "gemma3_text", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "layer_types": ["sliding_attention", "full_attention"]})", "g");
  });
  EXPECT_EQ(e.field(), "layer_types[0]");
}

TEST(HfConfig, HfMambaAndMamba2) {
  const ModelSpec m1 = parse_hf_config(
      R"({"model_type": "falcon_mamba", "hidden_size": 4096, "num_hidden_layers": 64,
          "intermediate_size": 8192, "state_size": 16, "conv_kernel": 4})", "fm");
  EXPECT_EQ(m1.count(LayerKind::mamba), 64);
  EXPECT_EQ(m1.mamba->intermediate_size, 8192);
  const ModelSpec m2 = parse_hf_config(
      R"({"model_type": "mamba2", "hidden_size": 4096, "num_hidden_layers": 64, "expand": 2,
          "num_heads": 128, "head_dim": 64, "n_groups": 8, "state_size": 128,
          "conv_kernel": 4})", "codestral");
  EXPECT_EQ(m2.mamba2->intermediate_size, 8192);
  EXPECT_EQ(m2.mamba2->n_groups, 8);
  // heads * head_dim must equal expand * hidden_size.
  EXPECT_EQ(error_of([] {
              parse_hf_config(R"({"model_type": "mamba2", "hidden_size": 4096,
                  "num_hidden_layers": 1, "expand": 2, "num_heads": 100, "head_dim": 64,
                  "n_groups": 1, "state_size": 128, "conv_kernel": 4})", "bad");
            }).field(),
            "head_dim");
}

TEST(HfConfig, MambaSsmFormatWithAttentionLayers) {
  // mamba_ssm's config.json for a hybrid: attention at attn_layer_idx, Mamba2 elsewhere.
  const ModelSpec m = parse_hf_config(
      R"({"d_model": 1024, "n_layer": 6, "ssm_cfg": {"layer": "Mamba2", "d_state": 64},
          "attn_layer_idx": [2, 5], "attn_cfg": {"num_heads": 16, "num_heads_kv": 4}})", "h");
  EXPECT_EQ(m.layers, (std::vector<LayerKind>{LayerKind::mamba2, LayerKind::mamba2,
                                              LayerKind::attention, LayerKind::mamba2,
                                              LayerKind::mamba2, LayerKind::attention}));
  EXPECT_EQ(m.attention->head_dim, 64);
  EXPECT_EQ(m.attention->kv_heads, 4);
  EXPECT_EQ(m.mamba2->d_state, 64);
  EXPECT_EQ(m.mamba2->num_heads, 2048 / 64);
  // Default layer is Mamba1 with d_state 16.
  const ModelSpec v1 = parse_hf_config(R"({"d_model": 768, "n_layer": 24})", "v1");
  EXPECT_EQ(v1.count(LayerKind::mamba), 24);
  EXPECT_EQ(v1.mamba->d_state, 16);
  EXPECT_EQ(error_of([] { parse_hf_config(R"({"d_model": 768, "n_layer": 2,
                          "attn_layer_idx": [2], "attn_cfg": {"num_heads": 12}})", "x"); })
                .field(),
            "attn_layer_idx[0]");
}

TEST(HfConfig, NemotronPatternAndListSpellingsAgree) {
  const std::string sizes =
      R"("num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
         "mamba_num_heads": 128, "mamba_head_dim": 64, "n_groups": 8, "ssm_state_size": 128,
         "conv_kernel": 4, "hidden_size": 4096)";
  const ModelSpec pattern = parse_hf_config(
      R"({"model_type": "nemotron_h", "hybrid_override_pattern": "M-M*-E", )" + sizes + "}", "p");
  const ModelSpec list = parse_hf_config(
      R"({"model_type": "nemotron_h", "layers_block_type": ["linear_attention", "mlp",
          "mamba", "full_attention", "mlp", "moe"], )" + sizes + "}", "l");
  expect_same_layout(pattern, list);
  EXPECT_EQ(pattern.decoder_layers(), 6);
  EXPECT_EQ(pattern.layers, (std::vector<LayerKind>{LayerKind::mamba2, LayerKind::mamba2,
                                                    LayerKind::attention}));
  EXPECT_EQ(pattern.decoder_layer, (std::vector<std::int64_t>{0, 2, 3}));
  EXPECT_EQ(error_of([&] {
              parse_hf_config(R"({"model_type": "nemotron_h", "hybrid_override_pattern": "M?",
                                  )" + sizes + "}", "q");
            }).field(),
            "hybrid_override_pattern");
  EXPECT_EQ(error_of([&] {
              parse_hf_config(R"({"model_type": "nemotron_h", "num_hidden_layers": 5,
                                  "hybrid_override_pattern": "M-M*-E", )" + sizes + "}", "n");
            }).field(),
            "hybrid_override_pattern");
}

TEST(HfConfig, MiniMaxLayerTypesAndAttnTypeListAgree) {
  const std::string sizes =
      R"("hidden_size": 512, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64)";
  const ModelSpec hf = parse_hf_config(
      R"({"model_type": "minimax", "num_hidden_layers": 4, "layer_types": ["linear_attention",
          "full_attention", "linear_attention", "full_attention"], )" + sizes + "}", "hf");
  const ModelSpec original = parse_hf_config(
      R"({"model_type": "minimax_text_01", "num_hidden_layers": 4, "attn_type_list": [0, 1, 0, 1],
          )" + sizes + "}", "orig");
  expect_same_layout(hf, original);
  EXPECT_EQ(hf.linear_attention->num_heads, 8);
  EXPECT_EQ(hf.linear_attention->key_dim, 64);
  EXPECT_EQ(error_of([&] {
              parse_hf_config(R"({"model_type": "minimax", "num_hidden_layers": 2,
                                  "attn_type_list": [0, 2], )" + sizes + "}", "m");
            }).field(),
            "attn_type_list[1]");
}

TEST(HfConfig, GraniteWithoutLayerTypesIsAllMamba) {
  const ModelSpec m = parse_hf_config(
      R"({"model_type": "granitemoehybrid", "hidden_size": 1024, "num_hidden_layers": 3,
          "num_attention_heads": 8, "mamba_n_heads": 32, "mamba_d_head": "auto",
          "mamba_n_groups": 1, "mamba_d_state": 128, "mamba_d_conv": 4, "mamba_expand": 2})", "g");
  EXPECT_EQ(m.count(LayerKind::mamba2), 3);
  EXPECT_EQ(m.mamba2->head_dim, 2048 / 32);
  EXPECT_FALSE(m.attention);
}

TEST(HfConfig, ErrorsNameTheFileAndTheKey) {
  const test::TempDir dir;
  const std::string jamba_without_period = R"({"model_type": "jamba", "hidden_size": 4096,
      "num_hidden_layers": 32, "num_attention_heads": 32, "attn_layer_offset": 4,
      "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2})";
  const auto missing = write(dir, "missing.json", jamba_without_period);
  InputError e = error_of([&] { load_hf_config(missing); });
  EXPECT_EQ(e.where(), missing.string());
  EXPECT_EQ(e.field(), "attn_layer_period");
  EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();

  const auto wrong = write(dir, "wrong.json", R"({"model_type": "llama", "hidden_size": 4096,
      "num_hidden_layers": 32, "num_attention_heads": "32"})");
  e = error_of([&] { load_hf_config(wrong); });
  EXPECT_EQ(e.where(), wrong.string());
  EXPECT_EQ(e.field(), "num_attention_heads");
  EXPECT_NE(e.expected().find("integer"), std::string::npos) << e.what();

  e = error_of([] { parse_hf_config(R"({"model_type": "llama", "hidden_size": 4096,
      "num_hidden_layers": 0, "num_attention_heads": 32})", "zero"); });
  EXPECT_EQ(e.field(), "num_hidden_layers");

  // Sizes past what any model has, whose products would leave 64 bits (10^12 layers ran out
  // of memory; 2^64 - 1 was reported as -1).
  e = error_of([] { parse_hf_config(R"({"model_type": "llama", "hidden_size": 4096,
      "num_hidden_layers": 1000000000000, "num_attention_heads": 32})", "many"); });
  EXPECT_EQ(e.field(), "num_hidden_layers");
  EXPECT_NE(e.expected().find("a positive integer up to 65536, got 1000000000000"), std::string::npos)
      << e.what();
  e = error_of([] { parse_hf_config(R"({"model_type": "llama", "hidden_size": 4096,
      "num_hidden_layers": 18446744073709551615, "num_attention_heads": 32})", "unsigned"); });
  EXPECT_NE(e.expected().find("18446744073709551615, beyond 64-bit signed integers"), std::string::npos)
      << e.what();

  e = error_of([] { parse_hf_config(R"({"model_type": "zamba2", "hidden_size": 2560,
      "num_hidden_layers": 2, "layers_block_type": ["mamba"]})", "z"); });
  EXPECT_EQ(e.field(), "layers_block_type");

  e = error_of([] { parse_hf_config(R"({"model_type": "falcon_h1", "hidden_size": 64,
      "num_hidden_layers": 2, "num_attention_heads": 4, "mamba_d_ssm": 128, "mamba_n_heads": 4,
      "mamba_n_groups": 1, "mamba_d_state": 16, "mamba_d_conv": 4,
      "attn_layer_indices": [0]})", "f"); });
  EXPECT_EQ(e.field(), "attn_layer_indices");

  const auto broken = write(dir, "broken.json", R"({"model_type": "llama",)");
  e = error_of([&] { load_hf_config(broken); });
  EXPECT_EQ(e.where(), broken.string());
  EXPECT_NE(e.expected().find("valid JSON"), std::string::npos);

  e = error_of([&] { load_hf_config(dir / "absent.json"); });
  EXPECT_EQ(e.where(), (dir / "absent.json").string());

  e = error_of([] { parse_hf_config(R"([1, 2])", "array"); });
  EXPECT_EQ(e.where(), "array");
  e = error_of([] { parse_hf_config(R"({"hidden_size": 1})", "typeless"); });
  EXPECT_EQ(e.field(), "model_type");
}

TEST(HfConfig, WholeNumberFloatsAreIntegers) {
  const ModelSpec m = parse_hf_config(
      R"({"model_type": "mamba", "hidden_size": 768.0, "num_hidden_layers": 24,
          "intermediate_size": 1536, "state_size": 16, "conv_kernel": 4})", "floats");
  EXPECT_EQ(m.count(LayerKind::mamba), 24);
  EXPECT_EQ(error_of([] { parse_hf_config(R"({"model_type": "mamba", "num_hidden_layers": 2.5,
      "intermediate_size": 1536, "state_size": 16, "conv_kernel": 4})", "f"); }).field(),
            "num_hidden_layers");
}

}  // namespace
}  // namespace ssmkit
