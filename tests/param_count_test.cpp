// Parameter counts from config.json (core/model/param_count.cpp) against two independent
// references per family: the sum of the family's weight shapes written out by hand here, and
// the total the model card publishes (quoted with its URL; cards round, so the comparison
// allows the stated tolerance and says where the gap comes from).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "cli_util.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "ssmkit/model/param_count.hpp"

namespace ssmkit {
namespace {

using I = std::int64_t;

ParameterCount preset_count(const std::string& name) {
  return count_parameters(model_preset_config(name), "preset " + name);
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// |count - card| / card within tolerance.
void expect_near_card(I count, double card, double tolerance, const std::string& what) {
  const double gap = std::fabs(static_cast<double>(count) - card) / card;
  EXPECT_LE(gap, tolerance) << what << ": " << count << " vs the card's " << card << " (" << 100 * gap << "%)";
}

TEST(ParamCount, Mamba28b) {
  // state-spaces/mamba-2.8b-hf: hidden 2560, 64 layers, inner 5120, N 16, conv 4, dt_rank
  // ceil(2560 / 16) = 160, vocab 50280, tied embeddings. Per layer: norm 2560, in_proj
  // 2560 * 10240, conv 5120 * 4 + 5120 bias, x_proj 5120 * (160 + 32), dt_proj 160 * 5120 + 5120,
  // A_log 5120 * 16, D 5120, out_proj 5120 * 2560.
  const I layer = 2560 + 2560 * 10240 + (5120 * 4 + 5120) + 5120 * (160 + 32) + (160 * 5120 + 5120) +
                  5120 * 16 + 5120 + 5120 * 2560;
  const I hand = 64 * layer + 2560 + 50280 * 2560;
  EXPECT_EQ(hand, 2768345600);
  const ParameterCount c = preset_count("mamba-2.8b");
  EXPECT_EQ(c.total(), hand);
  // https://huggingface.co/state-spaces/mamba-2.8b-hf: "2.8b" (the Mamba paper's 2.8B row). The
  // count is 1.1% below: the name rounds 2.77B up.
  expect_near_card(c.total(), 2.8e9, 0.02, "mamba-2.8b");
}

TEST(ParamCount, Mamba2_27b) {
  // state-spaces/mamba2-2.7b (mamba_ssm's format): d_model 2560, 64 layers, Mamba2 defaults
  // (expand 2, headdim 64 -> 80 heads, ngroups 1, d_state 128, d_conv 4), vocab 50277 padded to
  // a multiple of 16 = 50288, tied. in_proj 2560 * (2 * 5120 + 2 * 128 + 80), conv over
  // 5120 + 256 = 5376 channels with bias, dt_bias / A_log / D 80 each, gated norm 5120.
  const I layer = 2560 + 2560 * (2 * 5120 + 2 * 128 + 80) + (5376 * 4 + 5376) + 3 * 80 + 5120 + 5120 * 2560;
  const I hand = 64 * layer + 2560 + 50288 * 2560;
  const ParameterCount c = preset_count("mamba2-2.7b");
  EXPECT_EQ(c.total(), hand);
  // https://huggingface.co/state-spaces/mamba2-2.7b: "2.7b" (0.1% gap).
  expect_near_card(c.total(), 2.7e9, 0.01, "mamba2-2.7b");
}

TEST(ParamCount, NemotronH8b) {
  // nvidia/Nemotron-H-8B-Base-8K: hidden 4096; 24 Mamba2 blocks (128 heads of 64 = 8192, 8 groups,
  // N 128, conv 4 with bias), 4 attention blocks (32 heads, 8 KV heads of 128), 24 MLP blocks
  // (up and down of 21504, squared ReLU, no gate), one norm per block, vocab 131072 untied.
  const I conv_dim = 8192 + 2 * 8 * 128;
  const I mamba = 4096 * (8192 + conv_dim + 128) + (conv_dim * 4 + conv_dim) + 3 * 128 + 8192 + 8192 * 4096;
  const I attention = 4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096;
  const I mlp = 2 * 4096 * 21504;
  const I hand = 24 * mamba + 4 * attention + 24 * mlp + 52 * 4096 + 4096 + 2 * 131072 * 4096;
  EXPECT_EQ(hand, 8100852736);
  const ParameterCount c = preset_count("Nemotron-H-8B");
  EXPECT_EQ(c.total(), hand);
  // https://huggingface.co/nvidia/Nemotron-H-8B-Base-8K: "8B" (1.3% gap: the name rounds 8.10B).
  expect_near_card(c.total(), 8e9, 0.02, "Nemotron-H-8B");
}

TEST(ParamCount, JambaV01) {
  // ai21labs/Jamba-v0.1: hidden 4096, 32 layers; attention at 4, 12, 20, 28 (32 heads, 8 KV of
  // 128); Mamba1 elsewhere (inner 8192, N 16, dt_rank 256, conv 4 with bias, RMS norms over dt,
  // B and C); MoE of 16 experts (gate, up, down of 14336) with a router on odd layers, a dense
  // MLP of 14336 on even ones; two norms per layer; vocab 65536 untied.
  const I mamba = 4096 * 16384 + (8192 * 4 + 8192) + 8192 * (256 + 32) + (256 * 8192 + 8192) + 8192 * 16 + 8192 +
                  8192 * 4096 + (256 + 16 + 16);
  const I attention = 4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096;
  const I mlp = 3 * 4096 * 14336;
  const I hand = 28 * mamba + 4 * attention + 16 * mlp + 16 * (16 * mlp + 16 * 4096) + 32 * 2 * 4096 + 4096 +
                 2 * 65536 * 4096;
  const ParameterCount c = preset_count("Jamba-v0.1");
  EXPECT_EQ(c.total(), hand);
  // https://huggingface.co/ai21labs/Jamba-v0.1: "52B total available parameters" (the count is
  // 51.57B, 0.8% below: the card rounds up to whole billions).
  expect_near_card(c.total(), 52e9, 0.01, "Jamba-v0.1");
}

// Qwen3-Next-80B-A3B's shapes, by hand: hidden 2048, 48 layers (12 gated full attention: q_proj
// doubled for the output gate, 16 heads / 2 KV heads of 256, q and k norms; 36 Gated DeltaNet:
// 16 key heads and 32 value heads of 128, conv 4 without bias), a MoE block on every layer
// (512 experts of 512, a router, one shared expert of 512 and its one-output gate), vocab
// 151936 untied.
constexpr I kQwenAttention = 2048 * 8192 + 2048 * 1024 + 4096 * 2048 + 2 * 256;
constexpr I kQwenMoe = 512 * 3 * 2048 * 512 + 512 * 2048 + 3 * 2048 * 512 + 2048;
constexpr I kQwenGdn = 2048 * (2 * 2048 + 2 * 4096) + 2048 * 64 + 8192 * 4 + 2 * 32 + 128 + 4096 * 2048;
constexpr I kQwenTotal = 12 * kQwenAttention + 36 * kQwenGdn + 48 * kQwenMoe + 48 * 2 * 2048 + 2048 +
                         2 * 151936 * 2048;
// The MTP layer (vLLM's Qwen3NextMultiTokenPredictor): fc 2 * 2048 -> 2048, pre-fc norms of the
// hidden state and the embedding, one full-attention decoder layer with its MoE and two norms,
// a final norm; embeddings and LM head shared with the target.
constexpr I kQwenMtp = 2 * 2048 * 2048 + 2 * 2048 + kQwenAttention + kQwenMoe + 2 * 2048 + 2048;

TEST(ParamCount, Qwen3Next80bA3b) {
  const ParameterCount c = preset_count("Qwen3-Next-80B-A3B");
  EXPECT_EQ(c.total(), kQwenTotal);
  EXPECT_EQ(c.mtp_layers, 1);  // vLLM's default: the published config.json declares none
  EXPECT_EQ(c.mtp_total(), kQwenMtp);
  // https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct: "Number of Parameters: 80B in total
  // and 3B activated". Without the MTP layer the count is 79.67B (0.4% below); with it 81.32B.
  expect_near_card(c.total(), 80e9, 0.01, "Qwen3-Next-80B-A3B");
  // The config.json fixture gives the same count as the preset.
  const auto file = test::source_dir() / "tests/data/hf_configs/qwen3-next-80b-a3b.json";
  EXPECT_EQ(count_parameters(slurp(file), file.string()).total(), kQwenTotal);
}

TEST(ParamCount, KimiLinear48bA3b) {
  // moonshotai/Kimi-Linear-48B-A3B-Instruct: hidden 2304, 27 layers; 20 KDA (32 heads of 128:
  // q/k/v 2304 -> 4096 and a 4-wide conv each, f_a 2304 -> 128, f_b 128 -> 4096, dt_bias 4096,
  // A_log 32, b_proj 2304 -> 32, g_a / g_b like f, o_norm 128, o_proj 4096 -> 2304); 7 MLA (no q
  // LoRA: q 2304 -> 32 * (128 + 64); kv_a 2304 -> 512 + 64; its norm 512; kv_b 512 -> 32 *
  // (128 + 128); o 32 * 128 -> 2304); layer 0 a dense MLP of 9216, the others 256 experts of 1024,
  // a router and one shared expert; vocab 163840 untied.
  const I kda = 3 * 2304 * 4096 + 3 * 4096 * 4 + 2304 * 128 + 128 * 4096 + 4096 + 32 + 2304 * 32 + 2304 * 128 +
                128 * 4096 + 128 + 4096 * 2304;
  const I mla = 2304 * 32 * 192 + 2304 * 576 + 512 + 512 * 32 * 256 + 32 * 128 * 2304;
  const I moe = 256 * 3 * 2304 * 1024 + 256 * 2304 + 3 * 2304 * 1024;
  const I hand = 20 * kda + 7 * mla + 3 * 2304 * 9216 + 26 * moe + 27 * 2 * 2304 + 2304 + 2 * 163840 * 2304;
  const ParameterCount c = preset_count("Kimi-Linear-48B-A3B");
  EXPECT_EQ(c.total(), hand);
  EXPECT_EQ(c.mtp_layers, 0);
  // https://huggingface.co/moonshotai/Kimi-Linear-48B-A3B-Instruct: "48B total parameters and 3B
  // activated". The count is 49.12B, 2.3% above: the card's figure is the model's name, rounded
  // down; the embeddings and LM head alone are 0.75B. Tolerance 2.5%.
  expect_near_card(c.total(), 48e9, 0.025, "Kimi-Linear-48B-A3B");
  const auto file = test::source_dir() / "tests/data/hf_configs/kimi-linear-48b-a3b.json";
  EXPECT_EQ(count_parameters(slurp(file), file.string()).total(), hand);
}

TEST(ParamCount, Llama31_8b) {
  // meta-llama/Llama-3.1-8B: hidden 4096, 32 layers, 32 heads / 8 KV heads of 128, gated MLP
  // of 14336, vocab 128256 untied.
  const I layer = 4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096 + 3 * 4096 * 14336 + 2 * 4096;
  const I hand = 32 * layer + 4096 + 2 * 128256 * 4096;
  EXPECT_EQ(hand, 8030261248);  // the 8.03B in the model's safetensors index
  const ParameterCount c = preset_count("Llama-3.1-8B");
  EXPECT_EQ(c.total(), hand);
  // https://huggingface.co/meta-llama/Llama-3.1-8B: "8B" (0.4% gap).
  expect_near_card(c.total(), 8e9, 0.01, "Llama-3.1-8B");
}

TEST(ParamCount, MiniMaxText01) {
  // MiniMaxAI/MiniMax-Text-01: hidden 6144, 80 layers (70 lightning, 10 softmax attention, 64
  // heads of 128, 8 KV heads); a lightning layer's fused qkv, output gate, norm and out_proj;
  // 32 experts of 9216 and a router on every layer; vocab 200064 untied.
  const I lightning = 6144 * 3 * 8192 + 6144 * 8192 + 8192 + 8192 * 6144;
  const I attention = 6144 * 8192 + 2 * 6144 * 1024 + 8192 * 6144;
  const I moe = I{32} * 3 * 6144 * 9216 + 32 * 6144;
  const I hand = 70 * lightning + 10 * attention + 80 * moe + 80 * 2 * 6144 + 6144 + I{2} * 200064 * 6144;
  const ParameterCount c = preset_count("MiniMax-Text-01");
  EXPECT_EQ(c.total(), hand);
  // https://huggingface.co/MiniMaxAI/MiniMax-Text-01: "456 billion total parameters" (0.03% gap).
  expect_near_card(c.total(), 456e9, 0.01, "MiniMax-Text-01");
}

TEST(ParamCount, GraniteHybridSmallConfig) {
  // A granitemoehybrid config small enough to sum by hand: hidden 64; layers mamba, attention,
  // mamba, mamba; Mamba2 of 4 heads x 32 (= 2 x 64), 1 group, N 16, conv 4 with bias; attention
  // 4 heads / 2 KV heads of 16; 4 experts of 32 with a router and a shared MLP of 48 on every
  // layer; two norms per layer; vocab 100, tied.
  const std::string config = R"({"model_type": "granitemoehybrid", "hidden_size": 64, "num_hidden_layers": 4,
      "layer_types": ["mamba", "attention", "mamba", "mamba"], "num_attention_heads": 4, "num_key_value_heads": 2,
      "mamba_expand": 2, "mamba_n_heads": 4, "mamba_d_head": 32, "mamba_n_groups": 1, "mamba_d_state": 16,
      "mamba_d_conv": 4, "num_local_experts": 4, "intermediate_size": 32, "shared_intermediate_size": 48,
      "vocab_size": 100, "tie_word_embeddings": true})";
  const I conv_dim = 128 + 2 * 16;
  const I mamba = 64 * (128 + conv_dim + 4) + (conv_dim * 4 + conv_dim) + 3 * 4 + 128 + 128 * 64;
  const I attention = 64 * 64 + 2 * 64 * 32 + 64 * 64;
  const I ffn = 4 * 3 * 64 * 32 + 4 * 64 + 3 * 64 * 48;
  EXPECT_EQ(count_parameters(config, "granite").total(),
            3 * mamba + attention + 4 * ffn + 4 * 2 * 64 + 64 + 100 * 64);
}

// A small Llama-like config, whose bytes per rank are worked out by hand below.
const char* kTiny = R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 1000,
  "tie_word_embeddings": false, "max_position_embeddings": 4096, "torch_dtype": "float16")";

TEST(ParamCount, BytesPerRankShardAllButNormsAndQuantiseLinearWeights) {
  // Per layer: q 64 * 64, k and v 64 * 32 each, o 64 * 64 = 12,288 linear weights; MLP
  // 3 * 64 * 128 = 24,576; two norms of 64. Embeddings and LM head 64,000 each; final norm 64.
  const I linear = 2 * (12288 + 24576), norms = 2 * 128 + 64, total = linear + norms + 2 * 64000;
  const std::string config = std::string(kTiny) + "}";
  const ParameterCount c = count_parameters(config, "tiny");
  EXPECT_EQ(c.total(), total);
  const WeightFormat plain = read_weight_format(config, "tiny");
  EXPECT_EQ(weight_bytes_per_rank(c.parts, plain, 2, 1), static_cast<std::size_t>(2 * total));
  // TP 2: everything but the norms is halved.
  EXPECT_EQ(weight_bytes_per_rank(c.parts, plain, 2, 2), static_cast<std::size_t>(2 * ((total - norms) / 2 + norms)));
  // AWQ 4 bits, group 64, zero points: 4 + (16 + 4) / 64 = 4.3125 bits per linear weight; the
  // embeddings, LM head and norms stay float16.
  const std::string awq = std::string(kTiny) +
                          R"(, "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 64,
                             "zero_point": true}})";
  const WeightFormat q = read_weight_format(awq, "tiny");
  EXPECT_DOUBLE_EQ(q.quantized_bits, 4.3125);
  EXPECT_EQ(weight_bytes_per_rank(c.parts, q, 2, 1), static_cast<std::size_t>(linear * 4.3125 / 8 + 2 * (total - linear)));
}

TEST(ParamCount, BadInputNamesTheKey) {
  // Zamba2 (shared blocks with LoRA adapters) and Falcon-H1 are not counted: --reserve SIZE.
  EXPECT_THROW(count_parameters(model_preset_config("Zamba2-2.7B"), "preset Zamba2-2.7B"), InputError);
  EXPECT_THROW(count_parameters(model_preset_config("Falcon-H1-7B"), "preset Falcon-H1-7B"), InputError);
  try {
    count_parameters(model_preset_config("Zamba2-2.7B"), "preset Zamba2-2.7B");
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--reserve"), std::string::npos) << e.what();
  }
  const std::string no_vocab = R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128})";
  try {
    count_parameters(no_vocab, "cfg.json");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("vocab_size"), std::string::npos) << e.what();
  }
  // A Qwen3-Next config without the shared expert's size is refused, not counted without it.
  std::string qwen = model_preset_config("Qwen3-Next-80B-A3B");
  const std::string key = "\"shared_expert_intermediate_size\": 512,";
  ASSERT_NE(qwen.find(key), std::string::npos);
  qwen.erase(qwen.find(key), key.size());
  try {
    count_parameters(qwen, "cfg.json");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("shared_expert_intermediate_size"), std::string::npos) << e.what();
  }
  const std::string gguf = std::string(kTiny) + R"(, "quantization_config": {"quant_method": "gguf"}})";
  try {
    read_weight_format(gguf, "cfg.json");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("quant_method"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ssmkit
