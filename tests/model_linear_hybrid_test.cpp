// The linear-attention hybrids (Qwen3-Next / Qwen3.5 Gated DeltaNet, Kimi-Linear KDA + MLA):
// their config.json files, the presets, the refusals, the caches and what `budget` reports.
// Expected numbers are written from the config values by hand.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.hpp"
#include "ssmkit/cache/cache_snapshot.hpp"
#include "ssmkit/cache/hybrid_cache.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/memory_budget.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

const std::filesystem::path kConfigs = test::source_dir() / "tests" / "data" / "hf_configs";

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

using test::error_of;

// The fixture with one key's value replaced (the key must be there).
std::string patched(const std::string& file, const std::string& key, const nlohmann::json& value,
                    const std::string& under = "") {
  nlohmann::json j = nlohmann::json::parse(read_text(kConfigs / file));
  (under.empty() ? j : j.at(under))[key] = value;
  return j.dump();
}

// ---- Qwen3-Next / Qwen3.5 (Gated DeltaNet) -------------------------------------------------

TEST(LinearHybridConfig, Qwen3NextReadsAsGatedDeltaNetAndAttention) {
  const ModelSpec m = load_hf_config(kConfigs / "qwen3-next-80b-a3b.json");
  ASSERT_EQ(m.layers.size(), 48u);
  EXPECT_EQ(m.count(LayerKind::gated_delta_net), 36);
  EXPECT_EQ(m.count(LayerKind::attention), 12);
  for (std::size_t i = 0; i < 48; ++i) {
    EXPECT_EQ(m.layers[i], (i + 1) % 4 == 0 ? LayerKind::attention : LayerKind::gated_delta_net) << i;
  }
  ASSERT_TRUE(m.gated_delta_net && m.attention);
  EXPECT_EQ(m.gated_delta_net->num_k_heads, 16);
  EXPECT_EQ(m.gated_delta_net->num_v_heads, 32);
  EXPECT_EQ(m.gated_delta_net->head_k_dim, 128);
  EXPECT_EQ(m.gated_delta_net->head_v_dim, 128);
  EXPECT_EQ(m.gated_delta_net->conv_kernel, 4);
  EXPECT_EQ(m.gated_delta_net->conv_channels(), 2 * 16 * 128 + 32 * 128);
  EXPECT_EQ(m.attention->num_heads, 16);
  EXPECT_EQ(m.attention->kv_heads, 2);
  EXPECT_EQ(m.attention->head_dim, 256);
  EXPECT_EQ(m.max_position_embeddings, 262144);

  // The preset has the same layout and sizes.
  const ModelSpec p = model_preset("Qwen3-Next-80B-A3B");
  EXPECT_EQ(p.layers, m.layers);
  EXPECT_EQ(p.gated_delta_net->conv_channels(), m.gated_delta_net->conv_channels());
  EXPECT_EQ(p.attention->kv_heads, 2);
  // Without layer_types the interval alone places the layers.
  nlohmann::json j = nlohmann::json::parse(read_text(kConfigs / "qwen3-next-80b-a3b.json"));
  j.erase("layer_types");
  EXPECT_EQ(parse_hf_config(j.dump(), "no-types").layers, m.layers);
}

TEST(LinearHybridConfig, Qwen35KeysUnderTextConfig) {
  const ModelSpec m = load_hf_config(kConfigs / "qwen3.5-27b.json");
  EXPECT_EQ(m.count(LayerKind::gated_delta_net), 48);
  EXPECT_EQ(m.count(LayerKind::attention), 16);
  EXPECT_EQ(m.gated_delta_net->num_v_heads, 48);
  EXPECT_EQ(m.attention->num_heads, 24);
  EXPECT_EQ(m.attention->kv_heads, 4);
  EXPECT_NE(m.source.find("qwen3_5_text"), std::string::npos) << m.source;
  // A key missing under text_config is named with where it was looked for.
  nlohmann::json j = nlohmann::json::parse(read_text(kConfigs / "qwen3.5-27b.json"));
  j["text_config"].erase("linear_num_value_heads");
  const InputError e = error_of([&] { parse_hf_config(j.dump(), "q35.json"); });
  EXPECT_EQ(e.field(), "linear_num_value_heads");
  EXPECT_NE(e.where().find("text_config"), std::string::npos) << e.where();
}

// ---- Kimi-Linear (KDA + MLA) ------------------------------------------------------------------

TEST(LinearHybridConfig, KimiLinearReadsAsKdaAndMla) {
  const ModelSpec m = load_hf_config(kConfigs / "kimi-linear-48b-a3b.json");
  ASSERT_EQ(m.layers.size(), 27u);
  EXPECT_EQ(m.count(LayerKind::kda), 20);
  EXPECT_EQ(m.count(LayerKind::mla), 7);
  // full_attn_layers [4, 8, ..., 24, 27] are 1-based: 0-based layers 3, 7, ..., 23 and 26.
  for (const std::size_t i : {3u, 7u, 11u, 15u, 19u, 23u, 26u}) EXPECT_EQ(m.layers[i], LayerKind::mla) << i;
  EXPECT_EQ(m.layers[0], LayerKind::kda);
  EXPECT_EQ(m.layers[24], LayerKind::kda);
  ASSERT_TRUE(m.kda && m.mla);
  EXPECT_FALSE(m.attention);
  EXPECT_EQ(m.kda->num_k_heads, 32);
  EXPECT_EQ(m.kda->num_v_heads, 32);
  EXPECT_EQ(m.kda->head_k_dim, 128);
  EXPECT_EQ(m.kda->head_v_dim, 128);
  EXPECT_EQ(m.kda->conv_kernel, 4);
  EXPECT_EQ(m.mla->kv_lora_rank, 512);
  EXPECT_EQ(m.mla->qk_rope_head_dim, 64);
  EXPECT_EQ(m.mla->latent_dim(), 576);
  EXPECT_EQ(m.max_position_embeddings, 1048576);  // model_max_length
  const ModelSpec p = model_preset("Kimi-Linear-48B-A3B");
  EXPECT_EQ(p.layers, m.layers);
  EXPECT_EQ(p.mla->latent_dim(), 576);
}

// ---- refusals: never budgeted as something else -----------------------------------------------

TEST(LinearHybridConfig, RefusalsNameTheKey) {
  struct Case {
    std::string text, field, hint;
  };
  const std::vector<Case> cases = {
      // A made-up model type is not sized as attention-only.
      {patched("qwen3-next-80b-a3b.json", "model_type", "qwen9_imaginary"), "model_type",
       "qwen9_imaginary"},
      // A layer type this family does not have.
      {patched("qwen3-next-80b-a3b.json", "layer_types",
               nlohmann::json(std::vector<std::string>(48, "sliding_attention"))),
       "layer_types[0]", "sliding_attention"},
      // An interval that does not divide the layers.
      {patched("qwen3-next-80b-a3b.json", "full_attention_interval", 5), "full_attention_interval",
       "divisor"},
      // An interval that contradicts layer_types.
      {patched("qwen3-next-80b-a3b.json", "full_attention_interval", 2), "full_attention_interval",
       "disagrees"},
      // Value heads that are no multiple of the key heads.
      {patched("qwen3-next-80b-a3b.json", "linear_num_value_heads", 24), "linear_num_value_heads",
       "multiple"},
      // Kimi: a layer index past the model, a layer named twice, a layer in neither list.
      {patched("kimi-linear-48b-a3b.json", "full_attn_layers", {4, 8, 12, 16, 20, 24, 28},
               "linear_attn_config"),
       "full_attn_layers[6]", "[1, 27]"},
      {patched("kimi-linear-48b-a3b.json", "full_attn_layers", {1, 4, 8, 12, 16, 20, 24, 27},
               "linear_attn_config"),
       "full_attn_layers[0]", "no other entry"},
      {patched("kimi-linear-48b-a3b.json", "full_attn_layers", {4, 8, 12, 16, 20, 24},
               "linear_attn_config"),
       "kda_layers", "layer 27 is in neither"},
      {patched("kimi-linear-48b-a3b.json", "kda_layers", nullptr, "linear_attn_config"), "kda_layers",
       "missing"},
      // Sizes: KDA heads, MLA's latent parts, the length limit.
      {patched("kimi-linear-48b-a3b.json", "num_heads", 0, "linear_attn_config"), "num_heads",
       "positive"},
      {patched("kimi-linear-48b-a3b.json", "short_conv_kernel_size", "4", "linear_attn_config"),
       "short_conv_kernel_size", "integer"},
      {patched("kimi-linear-48b-a3b.json", "kv_lora_rank", nullptr), "kv_lora_rank", "missing"},
      {patched("kimi-linear-48b-a3b.json", "qk_rope_head_dim", -64), "qk_rope_head_dim", "0 or"},
      {patched("kimi-linear-48b-a3b.json", "model_max_length", 0), "model_max_length", "positive"},
      {patched("kimi-linear-48b-a3b.json", "linear_attn_config", "none"), "linear_attn_config",
       "an object"},
      // Qwen3.5's text_config must be an object.
      {patched("qwen3.5-27b.json", "text_config", 5), "text_config", "an object"},
  };
  for (const Case& c : cases) {
    const InputError e = error_of([&] { parse_hf_config(c.text, "config.json"); });
    EXPECT_EQ(e.field(), c.field) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.hint), std::string::npos) << e.what();
  }
  // mamba_ssm's own config.json has no model_type and still reads (state-spaces/mamba2-2.7b).
  const ModelSpec ssm = parse_hf_config(
      R"({"d_model": 2560, "n_layer": 64, "ssm_cfg": {"layer": "Mamba2"}})", "mamba_ssm");
  EXPECT_EQ(ssm.count(LayerKind::mamba2), 64);
}

TEST(LinearHybridConfig, BudgetRefusesAMadeUpModelTypeByName) {
  const test::TempDir dir;
  const auto path = dir / "config.json";
  std::ofstream(path) << patched("qwen3-next-80b-a3b.json", "model_type", "made_up_lm");
  const test::CliRun r = test::run_ssmkit("budget --gpu h100 --model " + test::quoted(path));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("model_type"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("made_up_lm"), std::string::npos) << r.output;
  // The real file reads as 36 Gated DeltaNet + 12 attention layers, not 48 attention.
  const test::CliRun ok = test::run_ssmkit("budget --gpu h100 --model " +
                                           test::quoted(kConfigs / "qwen3-next-80b-a3b.json"));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("48 decoder layers: 36 gated_delta_net, 12 attention"), std::string::npos)
      << ok.output;
}

// ---- caches ----------------------------------------------------------------------------------

TEST(LinearHybridCache, DeltaNetAndLatentCachesAllocateWhatTheFormulasSay) {
  HybridCacheConfig c;
  c.layers = {LayerKind::kda, LayerKind::mla, LayerKind::kda};
  c.max_requests = 3;
  DeltaNetCacheConfig d;
  d.num_layers = 2, d.max_batch = 3, d.num_k_heads = 2, d.num_v_heads = 4, d.head_k_dim = 8;
  d.head_v_dim = 16, d.conv_kernel = 4, d.conv_dtype = DType::bfloat16, d.state_dtype = DType::float32;
  c.kda = d;
  PagedKVCacheConfig kv;
  kv.num_layers = 1, kv.kv_heads = 1, kv.head_dim = 24, kv.page_size = 4, kv.max_seq_len = 64;
  kv.dtype = DType::bfloat16, kv.latent = true, kv.memory = MemoryBudget::fixed(10 * 4 * 24 * 2);
  c.mla = kv;
  HybridCache cache(c);
  // Per slot: conv (2*2*8 + 4*16 = 96 channels) x 4 columns in bf16, state 4 x 8 x 16 in fp32,
  // per layer; the latent pool holds one 24-element bf16 row per token.
  const std::size_t per_sequence = 2 * (96 * 4 * 2 + 4 * 8 * 16 * 4);
  EXPECT_EQ(cache.usage().bytes_per_sequence, per_sequence);
  EXPECT_EQ(cache.usage().bytes_per_token, 24u * 2);
  std::size_t allocated = 0;
  for (const auto& [name, tensor] : cache.storage()) {
    allocated += static_cast<std::size_t>(tensor->numel()) * dtype_size(tensor->dtype());
    EXPECT_EQ(name.find("value"), std::string::npos) << name << ": a latent cache keeps no V";
  }
  EXPECT_EQ(allocated, cache.usage().bytes_allocated);
  EXPECT_EQ(cache.kda().conv_channels(), 96);
  EXPECT_EQ(cache.kda().ssm_storage(0).shape(), (Shape{3, 4, 8, 16}));

  const auto a = cache.admit(7, 5);
  ASSERT_EQ(a.status, CacheStatus::ok);
  EXPECT_EQ(cache.mla().length(7), 5);
  Tensor rows(DType::float32, {5, 1, 24});
  for (std::int64_t i = 0; i < rows.numel(); ++i) rows.span<float>()[i] = static_cast<float>(i);
  cache.mla().write(7, 0, 0, KeyValue{rows, Tensor()});
  const KeyValue back = cache.mla().gather(7, 0);
  EXPECT_FALSE(back.value.defined());
  EXPECT_EQ(back.key.shape(), (Shape{5, 1, 24}));
  EXPECT_EQ(error_of([&] { cache.mla().write(7, 0, 0, KeyValue{rows, rows}); }).field(), "kv.value");
  EXPECT_EQ(error_of([&] { cache.mla().value_pages(0); }).field(), "latent");
  Tensor state(DType::float32, {4, 8, 16});
  for (std::int64_t i = 0; i < state.numel(); ++i) state.span<float>()[i] = 0.25f * static_cast<float>(i);
  cache.kda().set_ssm_state(1, a.slot, state);

  // A snapshot restores the KDA states, the latent rows and the request's pages.
  const test::TempDir dir;
  save_snapshot(cache, dir / "kimi.h5");
  HybridCache restored(c);
  restore_snapshot(restored, dir / "kimi.h5");
  EXPECT_EQ(restored.length(7), 5);
  const Tensor state_back = restored.kda().ssm_state(1, a.slot);
  for (std::int64_t i = 0; i < state.numel(); ++i) {
    EXPECT_EQ(state_back.span<float>()[i], state.span<float>()[i]) << i;
  }
  const Tensor rows_back = restored.mla().gather(7, 0).key;
  for (std::int64_t i = 0; i < rows.numel(); ++i) {
    // bf16 holds these small integers exactly.
    EXPECT_EQ(rows_back.value(i), rows.span<float>()[i]) << i;
  }

  cache.release(7);
  EXPECT_FALSE(cache.mla().contains(7));

  // One paged pool: attention and MLA together are refused.
  HybridCacheConfig both = c;
  both.layers.push_back(LayerKind::attention);
  PagedKVCacheConfig full = kv;
  full.latent = false;
  full.kv_heads = 2;
  both.attention = full;
  EXPECT_EQ(error_of([&] { both.validate(); }).field(), "mla");
}

// ---- budget: state bytes per sequence and KV / latent bytes per token --------------------------

// Hand formulas, one rank, bf16 conv and KV, fp32 recurrent state.
// Qwen3-Next: 36 GDN layers, conv over 2*16*128 + 32*128 = 8192 channels, state 32 x 128 x 128;
// 12 attention layers of 2 KV heads x 256.
constexpr std::size_t kGdnConvChannels = 2 * 16 * 128 + 32 * 128;
constexpr std::size_t kGdnState = 32ull * 128 * 128 * 4;
constexpr std::size_t kQwenStateW = 36 * (kGdnConvChannels * 4 * 2 + kGdnState);
constexpr std::size_t kQwenStateW1 = 36 * (kGdnConvChannels * 3 * 2 + kGdnState);
constexpr std::size_t kQwenKvPerToken = 12 * 2 * 2 * 256 * 2;
// Kimi-Linear: 20 KDA layers, conv over q, k, v of 32 x 128 each, state 32 x 128 x 128; 7 MLA
// layers of one 512 + 64 latent row.
constexpr std::size_t kKdaConvChannels = 3 * 32 * 128;
constexpr std::size_t kKimiStateW = 20 * (kKdaConvChannels * 4 * 2 + kGdnState);
constexpr std::size_t kKimiStateW1 = 20 * (kKdaConvChannels * 3 * 2 + kGdnState);
constexpr std::size_t kKimiLatentPerToken = 7 * (512 + 64) * 2;

TEST(LinearHybridBudget, StateAndTokenBytesMatchTheHandFormulas) {
  CacheSettings s;  // bf16 conv and KV, fp32 state
  const ModelMemory q = model_memory(model_preset("Qwen3-Next-80B-A3B"), s);
  EXPECT_EQ(q.state_bytes_per_sequence, kQwenStateW);
  EXPECT_EQ(q.state_bytes_per_sequence_w_minus_1, kQwenStateW1);
  EXPECT_EQ(q.kv_bytes_per_token, kQwenKvPerToken);
  const ModelMemory k = model_memory(model_preset("Kimi-Linear-48B-A3B"), s);
  EXPECT_EQ(k.state_bytes_per_sequence, kKimiStateW);
  EXPECT_EQ(k.state_bytes_per_sequence_w_minus_1, kKimiStateW1);
  EXPECT_EQ(k.kv_bytes_per_token, kKimiLatentPerToken);
  EXPECT_EQ(k.kv_bytes_per_page, 16 * kKimiLatentPerToken);
  // bf16 state halves the recurrent part; tensor parallel 4 divides GDN heads, not MLA's row.
  s.ssm_dtype = DType::bfloat16;
  s.tensor_parallel = 4;
  const ModelMemory q4 = model_memory(model_preset("Qwen3-Next-80B-A3B"), s);
  EXPECT_EQ(q4.state_bytes_per_sequence, 36 * (kGdnConvChannels / 4 * 4 * 2 + kGdnState / 4 / 2));
  const ModelMemory k4 = model_memory(model_preset("Kimi-Linear-48B-A3B"), s);
  EXPECT_EQ(k4.kv_bytes_per_token, kKimiLatentPerToken);
}

TEST(LinearHybridBudget, CliReportsBothConvConventions) {
  const test::TempDir dir;
  const test::CliRun r = test::run_ssmkit(
      "budget --model Qwen3-Next-80B-A3B --model kimi-linear-48b-a3b --gpu H100 --context 4k "
      "--json " + test::quoted(dir / "b.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("with W-1 conv columns"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("20 kda, 7 mla"), std::string::npos) << r.output;
  const auto report = nlohmann::json::parse(read_text(dir / "b.json"));
  const auto& models = report.at("models");
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].at("name"), "Qwen3-Next-80B-A3B");
  EXPECT_EQ(models[0].at("state_bytes_per_sequence").get<std::size_t>(), kQwenStateW);
  EXPECT_EQ(models[0].at("state_bytes_per_sequence_w_minus_1").get<std::size_t>(), kQwenStateW1);
  EXPECT_EQ(models[0].at("kv_bytes_per_token").get<std::size_t>(), kQwenKvPerToken);
  EXPECT_EQ(models[1].at("name"), "Kimi-Linear-48B-A3B");
  EXPECT_EQ(models[1].at("state_bytes_per_sequence").get<std::size_t>(), kKimiStateW);
  EXPECT_EQ(models[1].at("state_bytes_per_sequence_w_minus_1").get<std::size_t>(), kKimiStateW1);
  EXPECT_EQ(models[1].at("kv_bytes_per_token").get<std::size_t>(), kKimiLatentPerToken);
  for (const auto& kind : models[1].at("kinds")) {
    if (kind.at("kind") == "kda") {
      EXPECT_EQ(kind.at("conv_bytes_per_sequence").get<std::size_t>(), 20 * kKdaConvChannels * 4 * 2);
      EXPECT_EQ(kind.at("conv_bytes_per_sequence_w_minus_1").get<std::size_t>(),
                20 * kKdaConvChannels * 3 * 2);
    }
  }
}

// replay's accounting covers the new kinds: the geometry it reports is the hand formula's.
TEST(LinearHybridReplay, AccountingCoversKdaAndMla) {
  const test::TempDir dir;
  std::ofstream(dir / "s.yaml")
      << "model: Kimi-Linear-48B-A3B\n"
         "cache: {memory: 4GiB, max_sequences: 4}\n"
         "workload: {synthetic: {requests: 6, arrival_rate: 2, prompt: 100, output: 20}}\n";
  const test::CliRun r = test::run_ssmkit("replay " + test::quoted(dir / "s.yaml") + " --json " +
                                          test::quoted(dir / "r.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("20 kda + 7 mla"), std::string::npos) << r.output;
  const auto doc = nlohmann::json::parse(read_text(dir / "r.json"));
  EXPECT_EQ(doc["totals"]["finished"], 6);
  const auto& cache = doc["cache"];
  EXPECT_EQ(cache["state_bytes_per_sequence"].get<std::size_t>(), kKimiStateW);
  EXPECT_EQ(cache["bytes_per_page"].get<std::size_t>(), 16 * kKimiLatentPerToken);
}

}  // namespace
}  // namespace ssmkit
