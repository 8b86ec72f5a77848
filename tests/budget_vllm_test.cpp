// vLLM's KV cache pool arithmetic (core/engine/vllm_*.cpp) against hand formulas and public
// vLLM startup logs (tests/data/vllm_fixtures/*.md hold each log's source and hand
// computation). Every expected number below is written out from the model's dimensions, not
// taken from ssmkit's output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_util.hpp"
#include "ssmkit/engine/vllm_model.hpp"
#include "ssmkit/engine/vllm_pool.hpp"
#include "ssmkit/engine/vllm_state_shapes.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "test_util.hpp"

namespace ssmkit::vllm {
namespace {

using D = CacheDType;
constexpr std::size_t kGiB = std::size_t{1} << 30;

std::string two_decimals(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// ---- state shapes -------------------------------------------------------------------------

TEST(VllmStateShapes, Mamba1KeepsWMinusOneColumnsAndShardsChannels) {
  // Jamba-v0.1: intermediate 2 * 4096, d_state 16, conv 4; TP 2.
  const StateShape s = mamba1_state(2, 8192, 16, 4, D::bfloat16, D::float32);
  ASSERT_EQ(s.tensors.size(), 2u);
  EXPECT_EQ(s.tensors[0].shape, (std::vector<std::int64_t>{3, 4096}));
  EXPECT_EQ(s.tensors[1].shape, (std::vector<std::int64_t>{4096, 16}));
  EXPECT_EQ(s.bytes(), 3u * 4096 * 2 + 4096u * 16 * 4);
}

TEST(VllmStateShapes, Mamba2ReplicatesGroupsThatDoNotDivideTheDegree) {
  // mamba2-2.7b: intermediate 5120, 80 heads of 64, 1 group, d_state 128, conv 4.
  // TP 1: conv dim 5120 + 2*1*128 = 5376.
  EXPECT_EQ(mamba2_state(1, 5120, 1, 80, 64, 128, 4, 0, D::bfloat16, D::bfloat16).bytes(),
            3u * 5376 * 2 + 80u * 64 * 128 * 2);
  // TP 2: the single group is replicated to 2: (5120 + 2*2*128) / 2 = 2816 channels.
  const StateShape tp2 = mamba2_state(2, 5120, 1, 80, 64, 128, 4, 0, D::bfloat16, D::float32);
  EXPECT_EQ(tp2.tensors[0].shape, (std::vector<std::int64_t>{3, 2816}));
  EXPECT_EQ(tp2.tensors[1].shape, (std::vector<std::int64_t>{40, 64, 128}));
  // Nemotron-H-8B at TP 4: 8 groups divide 4, conv (8192 + 2*8*128) / 4 = 2560; two
  // speculative tokens widen the window to 3 + 2 columns.
  const StateShape nem = mamba2_state(4, 8192, 8, 128, 64, 128, 4, 2, D::bfloat16, D::float32);
  EXPECT_EQ(nem.tensors[0].shape, (std::vector<std::int64_t>{5, 2560}));
  EXPECT_EQ(nem.bytes(), 5u * 2560 * 2 + 32u * 64 * 128 * 4);
}

TEST(VllmStateShapes, GatedDeltaNetConvsQkvTogether) {
  // Qwen3-Next at TP 2: conv (2*16*128 + 32*128) / 2 = 4096, state (32/2, 128, 128).
  const StateShape s = gated_delta_net_state(2, 16, 32, 128, 128, 4, 0, D::float16, D::float16);
  EXPECT_EQ(s.tensors[0].shape, (std::vector<std::int64_t>{3, 4096}));
  EXPECT_EQ(s.tensors[1].shape, (std::vector<std::int64_t>{16, 128, 128}));
  EXPECT_EQ(s.bytes(), 548864u);  // 24,576 + 524,288
  // One speculative token adds a conv column.
  EXPECT_EQ(gated_delta_net_state(2, 16, 32, 128, 128, 4, 1, D::float16, D::float16).tensors[0].shape,
            (std::vector<std::int64_t>{4, 4096}));
}

TEST(VllmStateShapes, KdaHasThreeConvsAndAFloat32State) {
  // Kimi-Linear at TP 2: three (3, 32*128/2) convs in float16, state (16, 128, 128) float32
  // even when the cache dtype is half precision.
  const StateShape s = kda_state(2, 32, 128, 32, 128, 4, D::float16);
  ASSERT_EQ(s.tensors.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s.tensors[i].shape, (std::vector<std::int64_t>{3, 2048}));
  EXPECT_EQ(s.tensors[3].dtype, D::float32);
  EXPECT_EQ(s.bytes(), 3u * 3 * 2048 * 2 + 16u * 128 * 128 * 4);  // 1,085,440
}

TEST(VllmStateShapes, LightningAndShortConv) {
  // MiniMax-Text-01: 64 heads of 128 at TP 8 -> (8, 128, 128), one tensor.
  EXPECT_EQ(linear_attention_state(8, 64, 128, D::bfloat16).bytes(), 8u * 128 * 128 * 2);
  // Short conv (LFM2-like): 2048 channels, kernel 3, TP 2 -> (2, 1024).
  EXPECT_EQ(short_conv_state(2, 2048, 3, D::bfloat16).bytes(), 2u * 1024 * 2);
}

TEST(VllmStateShapes, AttentionPagesPerToken) {
  // KV heads below the degree are replicated: 2 heads at TP 4 keep one per rank.
  EXPECT_EQ(attention_bytes_per_token(4, 2, 256, D::bfloat16), 2u * 1 * 256 * 2);
  EXPECT_EQ(attention_bytes_per_token(2, 8, 128, D::fp8_e4m3), 2u * 4 * 128 * 1);
  EXPECT_EQ(mla_bytes_per_token(512, 64, D::bfloat16), 576u * 2);
}

TEST(VllmStateShapes, UnevenShardsAreAnErrorNamingTp) {
  try {
    mamba1_state(3, 8192, 16, 4, D::bfloat16, D::float32);
    FAIL() << "8192 channels over 3 ranks";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "--tp");
    EXPECT_NE(std::string(e.what()).find("8192"), std::string::npos) << e.what();
  }
  EXPECT_THROW(kda_state(2, 0, 128, 32, 128, 4, D::float16), InputError);
}

// ---- the pool, against public startup logs ----------------------------------------------------

// Kimi-Linear-48B-A3B, TP 2 (vllm-project/vllm issue 28228; kimi-linear-28228.md).
PoolModel kimi_linear_tp2() {
  PoolModel m;
  m.name = "Kimi-Linear-48B-A3B";
  m.attention_layers = 7;
  m.attention_bytes_per_token = mla_bytes_per_token(512, 64, D::float16);
  m.mla = true;
  m.state_layers = 20;
  m.state = kda_state(2, 32, 128, 32, 128, 4, D::float16);
  m.supports_all_mode = false;
  return m;
}

TEST(VllmFixture, KimiLinearIssue28228) {
  PoolSettings s;
  s.era = Era::v0_11;
  s.max_model_len = 120000;
  s.max_num_seqs = 8;
  s.mamba_cache_mode = MambaCacheMode::all;  // --enable_prefix_caching; vLLM switched it off
  const std::size_t lo = 2464237487;         // ceil(2.295 GiB)
  const std::size_t hi = 2469519359;         // 319 blocks need 2,469,519,360 B
  for (std::size_t avail = lo; avail <= hi; avail += (hi - lo) / 7) {
    s.available_bytes = avail;
    const PoolPlan p = plan_pool(kimi_linear_tp2(), s);
    EXPECT_EQ(p.block_size, 960);
    EXPECT_EQ(p.page_bytes, 1105920u);
    EXPECT_EQ(p.state_page_bytes, 1085440u);
    EXPECT_EQ(two_decimals(p.state_padding_percent), "1.89");
    EXPECT_EQ(p.mamba_cache_mode, MambaCacheMode::none);
    EXPECT_EQ(p.group_size, 7);
    EXPECT_EQ(p.groups.size(), 4u);
    EXPECT_EQ(p.padding_layers, 1);
    EXPECT_EQ(p.num_blocks, 318);
    EXPECT_EQ(p.blocks_per_request, 128);
    EXPECT_EQ(p.gpu_kv_cache_tokens, 75840);
    EXPECT_EQ(two_decimals(p.max_concurrency), "2.48");
    EXPECT_TRUE(p.starts);
  }
  s.available_bytes = hi;
  EXPECT_EQ(plan_pool(kimi_linear_tp2(), s).num_blocks, 318);
  s.available_bytes = hi + 1;  // one block more: the log would have said 2.49x
  const PoolPlan past = plan_pool(kimi_linear_tp2(), s);
  EXPECT_EQ(past.num_blocks, 319);
  EXPECT_EQ(two_decimals(past.max_concurrency), "2.49");
}

// Qwen3-Next-80B-A3B, TP 2, fp8_e5m2 KV (vllm-project/vllm issue 26646; qwen3-next-26646.md).
PoolModel qwen3_next_tp2_fp8_e5m2() {
  PoolModel m;
  m.name = "Qwen3-Next-80B-A3B";
  m.attention_layers = 12;
  m.attention_bytes_per_token = attention_bytes_per_token(2, 2, 256, D::fp8_e5m2);
  m.state_layers = 36;
  m.state = gated_delta_net_state(2, 16, 32, 128, 128, 4, 0, D::float16, D::float16);
  return m;
}

TEST(VllmFixture, Qwen3NextIssue26646) {
  PoolSettings s;
  s.era = Era::v0_11;
  s.max_model_len = 215040;
  s.max_num_seqs = 2;
  const std::size_t lo = 2226192384;  // 338 blocks of 12 layers of 548,864 B
  const std::size_t hi = 2239365119;  // 340 blocks need one byte more
  for (std::size_t avail = lo; avail <= hi; avail += (hi - lo) / 9) {
    s.available_bytes = avail;
    const PoolPlan p = plan_pool(qwen3_next_tp2_fp8_e5m2(), s);
    EXPECT_EQ(p.block_size, 1072);
    EXPECT_EQ(p.page_bytes, 548864u);
    EXPECT_FALSE(p.state_padding_percent > 0.0);
    EXPECT_EQ(p.group_size, 12);
    EXPECT_EQ(p.groups.size(), 4u);
    EXPECT_EQ(p.blocks_per_request, 204);
    EXPECT_EQ(p.gpu_kv_cache_tokens, 90048);
    EXPECT_EQ(two_decimals(p.max_concurrency), "1.66");
    EXPECT_GE(p.num_blocks, 338);
    EXPECT_LE(p.num_blocks, 339);
  }
  s.available_bytes = lo - 1;  // 337 blocks: 1.65x
  EXPECT_EQ(two_decimals(plan_pool(qwen3_next_tp2_fp8_e5m2(), s).max_concurrency), "1.65");
}

// The presets reach the engine through pool_model: the same layers, bytes per token and
// state as the fixtures' hand-built descriptions above.
PoolModel from_preset(const std::string& preset, const DTypeFlags& flags, std::int64_t tp, Era era) {
  const ConfigFacts facts = read_config_facts(model_config_text(preset), preset);
  return pool_model(model_preset(preset), facts, resolve_dtypes(flags, facts, era), tp, 0, era);
}

void expect_same_pool_model(const PoolModel& got, const PoolModel& want) {
  EXPECT_EQ(got.attention_layers, want.attention_layers);
  EXPECT_EQ(got.attention_bytes_per_token, want.attention_bytes_per_token);
  EXPECT_EQ(got.mla, want.mla);
  EXPECT_EQ(got.state_layers, want.state_layers);
  EXPECT_EQ(got.state.describe(), want.state.describe());
  EXPECT_EQ(got.state.bytes(), want.state.bytes());
  EXPECT_EQ(got.supports_all_mode, want.supports_all_mode);
}

TEST(VllmAdapter, Qwen3NextPresetIsTheIssue26646Model) {
  DTypeFlags flags;
  flags.dtype = "float16";
  flags.kv_cache_dtype = "fp8_e5m2";
  expect_same_pool_model(from_preset("Qwen3-Next-80B-A3B", flags, 2, Era::v0_11), qwen3_next_tp2_fp8_e5m2());
}

TEST(VllmAdapter, KimiLinearPresetIsTheIssue28228Model) {
  DTypeFlags flags;
  flags.dtype = "float16";
  expect_same_pool_model(from_preset("Kimi-Linear-48B-A3B", flags, 2, Era::v0_11), kimi_linear_tp2());
}

// Qwen3.6-35B-A3B, TP 1, fp8 KV, float32 SSM state, mode align, vLLM 0.24.0
// (noonghunna/club-3090 issue 652; qwen3.6-club3090-652.md).
PoolModel qwen36_35b_tp1_fp8() {
  PoolModel m;
  m.name = "Qwen3.6-35B-A3B";
  m.attention_layers = 10;
  m.attention_bytes_per_token = attention_bytes_per_token(1, 2, 256, D::fp8_e4m3);
  m.state_layers = 30;
  m.state = gated_delta_net_state(1, 16, 32, 128, 128, 4, 0, D::bfloat16, D::float32);
  return m;
}

TEST(VllmFixture, Qwen36Club3090Issue652) {
  PoolSettings s;
  s.era = Era::latest;
  s.max_model_len = 131072;
  s.max_num_seqs = 256;
  s.mamba_cache_mode = MambaCacheMode::align;
  const std::size_t lo = 6447819654;  // ceil(6.005 GiB)
  const std::size_t hi = 6458557071;  // below 6.015 GiB
  for (std::size_t avail = lo; avail <= hi; avail += (hi - lo) / 9) {
    s.available_bytes = avail;
    const PoolPlan p = plan_pool(qwen36_35b_tp1_fp8(), s);
    EXPECT_EQ(p.state_page_bytes, 2146304u);
    EXPECT_EQ(p.page_bytes, 2146304u);
    EXPECT_EQ(p.block_size, 2096);
    EXPECT_EQ(p.num_blocks, 300);
    EXPECT_EQ(p.blocks_per_request, 69);  // 63 attention + 3 groups x 2 (align)
    EXPECT_EQ(p.gpu_kv_cache_tokens, 569878);
    EXPECT_EQ(two_decimals(p.max_concurrency), "4.35");
    EXPECT_TRUE(p.starts);
    EXPECT_EQ(p.largest_max_num_seqs, 300);
  }
  // The 0.11 formula (num_blocks // groups * block) would have printed 75 * 2096 = 157,200.
  s.available_bytes = lo;
  s.era = Era::v0_11;
  s.mamba_cache_mode = MambaCacheMode::none;
  EXPECT_EQ(plan_pool(qwen36_35b_tp1_fp8(), s).gpu_kv_cache_tokens, 157200);
}

TEST(VllmFixture, GraniteSmallBlockSize528) {
  // ibm-granite/granite-4.0-h-small, TP 1, bfloat16 (vllm issue 40696, vllm-gaudi PR 1564).
  PoolModel m;
  m.name = "granite-4.0-h-small";
  m.attention_layers = 4;
  m.attention_bytes_per_token = attention_bytes_per_token(1, 8, 128, D::bfloat16);
  m.state_layers = 36;
  m.state = mamba2_state(1, 8192, 1, 128, 64, 128, 4, 0, D::bfloat16, D::bfloat16);
  m.supports_all_mode = true;
  PoolSettings s;
  s.max_model_len = 131072;
  s.max_num_seqs = 1;
  s.available_bytes = 40 * kGiB;
  const PoolPlan p = plan_pool(m, s);
  EXPECT_EQ(p.state_page_bytes, 2147840u);
  EXPECT_EQ(p.block_size, 528);
  EXPECT_TRUE(p.block_size_raised);
  EXPECT_EQ(two_decimals(p.state_padding_percent), "0.69");
}

// ---- the pool's rules, one at a time ------------------------------------------------------------

PoolModel small_hybrid(std::int64_t attention, std::int64_t state_layers) {
  PoolModel m;
  m.name = "hybrid";
  m.attention_layers = attention;
  m.attention_bytes_per_token = 1024;
  m.state_layers = state_layers;
  m.state = StateShape{"test", {StateTensor{"ssm", {10000}, D::float32}}};  // 40,000 B
  m.supports_all_mode = true;
  m.mamba_chunk_size = 256;
  return m;
}

TEST(VllmPool, GroupSizeIsTheSmallerCountUnlessTheLargerIsUnderOneAndAHalfTimesIt) {
  PoolSettings s;
  s.max_model_len = 4096;
  s.max_num_seqs = 1;
  s.available_bytes = kGiB;
  // Jamba-like 4 attention : 28 Mamba -> groups of 4, 7 state groups + 1 attention group.
  PoolPlan p = plan_pool(small_hybrid(4, 28), s);
  EXPECT_EQ(p.group_size, 4);
  EXPECT_EQ(p.groups.size(), 8u);
  EXPECT_EQ(p.padding_layers, 0);
  // 12 : 13 (13 < 18) -> groups of 13, one padding layer in the attention group.
  p = plan_pool(small_hybrid(12, 13), s);
  EXPECT_EQ(p.group_size, 13);
  EXPECT_EQ(p.groups.size(), 2u);
  EXPECT_EQ(p.padding_layers, 1);
  // 7 : 20 -> groups of 7, 3 state groups with 1 padding layer.
  p = plan_pool(small_hybrid(7, 20), s);
  EXPECT_EQ(p.group_size, 7);
  EXPECT_EQ(p.padding_layers, 1);
}

TEST(VllmPool, BlockSizeAndModes) {
  PoolSettings s;
  s.max_model_len = 10000;
  s.max_num_seqs = 1;
  s.available_bytes = kGiB;
  // 40,000 B of state over 1,024 B per token: 16 * ceil(40000 / 16384) = 48.
  PoolPlan p = plan_pool(small_hybrid(4, 28), s);
  EXPECT_EQ(p.block_size, 48);
  EXPECT_EQ(p.page_bytes, 48u * 1024);
  // None: 1 state page per group (7) + ceil(10000 / 48) = 209 attention pages.
  EXPECT_EQ(p.blocks_per_request, 7 + 209);
  // Mode all: lcm(256, 16) = 256 * ceil(ceil(40000/1024) / 256) = 256 tokens per block, and
  // the states hold ceil(10000 / 256) = 40 pages per group.
  s.mamba_cache_mode = MambaCacheMode::all;
  p = plan_pool(small_hybrid(4, 28), s);
  EXPECT_EQ(p.block_size, 256);
  EXPECT_EQ(p.blocks_per_request, 7 * 40 + 40);
  // Align: 2 pages per group; 2 speculative tokens add 2 more each.
  s.mamba_cache_mode = MambaCacheMode::align;
  s.num_speculative_tokens = 2;
  p = plan_pool(small_hybrid(4, 28), s);
  EXPECT_EQ(p.block_size, 48);
  EXPECT_EQ(p.blocks_per_request, 7 * 4 + 209);
  // A user block size above the alignment becomes the alignment (latest): 64 * ceil(40000 /
  // 65536) = 64; in 0.11 the alignment stays 16 and 64 >= 48 is kept as given.
  s.mamba_cache_mode = MambaCacheMode::none;
  s.num_speculative_tokens = 0;
  s.block_size = 64;
  EXPECT_EQ(plan_pool(small_hybrid(4, 28), s).block_size, 64);
  s.block_size = 32;  // latest: 32 * ceil(40000 / 32768) = 64; 0.11: 48
  EXPECT_EQ(plan_pool(small_hybrid(4, 28), s).block_size, 64);
  s.era = Era::v0_11;
  EXPECT_EQ(plan_pool(small_hybrid(4, 28), s).block_size, 48);
}

TEST(VllmPool, MaxNumSeqsVerdictAndLargestValues) {
  PoolSettings s;
  s.max_model_len = 10000;
  s.available_bytes = 100u * 1024 * 1024;  // 100 MiB / (48 KiB * 4) = 533 blocks
  s.max_num_seqs = 1024;
  PoolPlan p = plan_pool(small_hybrid(4, 28), s);
  EXPECT_EQ(p.num_blocks, 533);
  EXPECT_FALSE(p.starts);
  EXPECT_EQ(p.error, "ValueError: max_num_seqs (1024) exceeds available Mamba cache blocks (533).");
  EXPECT_EQ(p.largest_max_num_seqs, 533);
  s.max_num_seqs = 533;
  EXPECT_TRUE(plan_pool(small_hybrid(4, 28), s).starts);
  s.full_cudagraphs = false;  // --enforce-eager: no such check
  s.max_num_seqs = 1024;
  EXPECT_TRUE(plan_pool(small_hybrid(4, 28), s).starts);
  s.full_cudagraphs = true;
  s.era = Era::v0_11;  // the check arrived in 2026-03
  EXPECT_TRUE(plan_pool(small_hybrid(4, 28), s).starts);
  EXPECT_EQ(plan_pool(small_hybrid(4, 28), s).largest_max_num_seqs, -1);

  // Largest max_model_len: 533 blocks hold 7 state pages and 526 attention pages of 48
  // tokens: 526 * 48 = 25,248 tokens.
  s.era = Era::latest;
  s.max_num_seqs = 1;
  s.max_model_len = 25248;
  p = plan_pool(small_hybrid(4, 28), s);
  EXPECT_TRUE(p.starts);
  EXPECT_EQ(p.largest_max_model_len, 25248);
  s.max_model_len = 25249;
  p = plan_pool(small_hybrid(4, 28), s);
  EXPECT_FALSE(p.starts);
  EXPECT_NE(p.error.find("max seq len (25249)"), std::string::npos) << p.error;
  EXPECT_NE(p.error.find("estimated maximum model length is 25248"), std::string::npos) << p.error;
}

TEST(VllmPool, AttentionOnlyAndStateOnlyModels) {
  PoolSettings s;
  s.max_model_len = 8192;
  s.max_num_seqs = 1;
  s.available_bytes = kGiB;
  // Llama-3.1-8B at TP 1, bfloat16: 32 layers of 2*8*128*2 = 4096 B per token, block 16.
  PoolModel llama;
  llama.name = "llama";
  llama.attention_layers = 32;
  llama.attention_bytes_per_token = 4096;
  PoolPlan p = plan_pool(llama, s);
  EXPECT_EQ(p.block_size, 16);
  EXPECT_EQ(p.num_blocks, static_cast<std::int64_t>(kGiB / (16 * 4096) / 32));  // 512
  EXPECT_EQ(p.blocks_per_request, 512);
  EXPECT_EQ(p.gpu_kv_cache_tokens, 8192);  // int(512 / 512 * 8192)
  EXPECT_FALSE(p.checks_max_num_seqs);
  // A pure Mamba2 model: one page per sequence, num_blocks = memory // page // layers.
  PoolModel mamba = small_hybrid(0, 64);
  p = plan_pool(mamba, s);
  EXPECT_EQ(p.num_blocks, static_cast<std::int64_t>(kGiB / 40000 / 64));  // 419
  EXPECT_EQ(p.blocks_per_request, 1);
  EXPECT_EQ(p.gpu_kv_cache_tokens, 419 * 8192);
}

TEST(VllmPool, RefusedSettingsNameTheFlag) {
  PoolSettings s;
  s.max_model_len = 1000;
  s.max_num_seqs = 1;
  s.available_bytes = kGiB;
  s.era = Era::v0_11;
  s.mamba_cache_mode = MambaCacheMode::align;
  try {
    plan_pool(small_hybrid(4, 28), s);
    FAIL() << "align is not a 0.11 mode";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "--mamba-cache-mode");
  }
  s.era = Era::latest;
  s.mamba_cache_mode = MambaCacheMode::none;
  s.max_model_len = 0;
  EXPECT_THROW(plan_pool(small_hybrid(4, 28), s), InputError);
  s.max_model_len = 1000;
  s.max_num_seqs = 0;
  EXPECT_THROW(plan_pool(small_hybrid(4, 28), s), InputError);
  EXPECT_THROW(parse_era("0.12", "--vllm-version"), InputError);
}

TEST(VllmPool, DefaultMaxNumSeqs) {
  EXPECT_EQ(default_max_num_seqs(81559ull * 1024 * 1024, "h100"), 1024);
  EXPECT_EQ(default_max_num_seqs(81920ull * 1024 * 1024, "a100-80gb"), 256);
  EXPECT_EQ(default_max_num_seqs(46068ull * 1024 * 1024, "l40s"), 256);
}

// ---- from ssmkit's model description ---------------------------------------------------------

TEST(VllmModel, NemotronHDefaultsToAFloat32SsmState) {
  const ModelSpec m = model_preset("Nemotron-H-8B");
  const ConfigFacts facts = read_config_facts(model_preset_config("Nemotron-H-8B"), "preset");
  EXPECT_EQ(facts.model_type, "nemotron_h");
  const ResolvedDTypes d = resolve_dtypes(DTypeFlags{}, facts, Era::latest);
  EXPECT_EQ(d.model, D::bfloat16);  // no torch_dtype in the preset: bfloat16
  EXPECT_EQ(d.ssm, D::float32);
  EXPECT_EQ(d.conv, D::bfloat16);
  const PoolModel p = pool_model(m, facts, d, 1, 0, Era::latest);
  EXPECT_EQ(p.attention_layers, 4);
  EXPECT_EQ(p.state_layers, 24);
  // conv (3, 8192 + 2*8*128) bf16 + ssm (128, 64, 128) f32.
  EXPECT_EQ(p.state.bytes(), 3u * 10240 * 2 + 128u * 64 * 128 * 4);
  EXPECT_EQ(p.attention_bytes_per_token, 2u * 8 * 128 * 2);
  // In 0.11 the SSM state follows the conv state.
  EXPECT_EQ(resolve_dtypes(DTypeFlags{}, facts, Era::v0_11).ssm, D::bfloat16);
  // Nemotron-H passes speculative tokens to the conv window (latest).
  EXPECT_EQ(pool_model(m, facts, d, 1, 3, Era::latest).state.tensors[0].shape[0], 6);
}

TEST(VllmModel, Qwen35TakesTheConfigsMambaSsmDtype) {
  ConfigFacts facts = read_config_facts(
      R"({"model_type": "qwen3_5_moe", "text_config": {"torch_dtype": "bfloat16", "mamba_ssm_dtype": "float32"}})",
      "config.json");
  EXPECT_EQ(resolve_dtypes(DTypeFlags{}, facts, Era::latest).ssm, D::float32);
  DTypeFlags flags;
  flags.mamba_ssm_cache_dtype = "bfloat16";  // the user's choice wins
  EXPECT_EQ(resolve_dtypes(flags, facts, Era::latest).ssm, D::bfloat16);
  flags.kv_cache_dtype = "int8";
  try {
    resolve_dtypes(flags, facts, Era::latest);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "--kv-cache-dtype");
  }
}

TEST(VllmModel, FalconH1AndJambaKeepTheirConvWindowUnderSpeculation) {
  const ModelSpec falcon = model_preset("Falcon-H1-7B");
  const ConfigFacts facts = read_config_facts(model_preset_config("Falcon-H1-7B"), "preset");
  const ResolvedDTypes d = resolve_dtypes(DTypeFlags{}, facts, Era::latest);
  const PoolModel p = pool_model(falcon, facts, d, 2, 4, Era::latest);
  // Falcon-H1-7B: 44 layers with both mixers; conv (3, (3072 + 2*2*256)/2) with the single
  // group replicated to 2; ssm (12, 128, 256) bfloat16.
  EXPECT_EQ(p.attention_layers, 44);
  EXPECT_EQ(p.state_layers, 44);
  EXPECT_EQ(p.state.tensors[0].shape, (std::vector<std::int64_t>{3, 2048}));
  EXPECT_EQ(p.state.bytes(), 3u * 2048 * 2 + 12u * 128 * 256 * 2);
  EXPECT_EQ(p.attention_bytes_per_token, 2u * 1 * 128 * 2);
  // Jamba (Mamba1): conv (3, 8192) whatever the speculative tokens.
  const ConfigFacts jamba = read_config_facts(model_preset_config("Jamba-v0.1"), "preset");
  const PoolModel j = pool_model(model_preset("Jamba-v0.1"), jamba, resolve_dtypes(DTypeFlags{}, jamba, Era::latest),
                                 1, 4, Era::latest);
  EXPECT_EQ(j.state.tensors[0].shape, (std::vector<std::int64_t>{3, 8192}));
  EXPECT_EQ(j.attention_layers, 4);
  EXPECT_EQ(j.state_layers, 28);
}

// ---- the command line ---------------------------------------------------------------------------

using test::quoted;
using test::run_ssmkit;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(BudgetVllmCli, NemotronHPresetReportsVllmsNumbersAndRefusal) {
  // Nemotron-H-8B, TP 1, latest rules: state conv (3, 8192 + 2*8*128) bfloat16 = 61,440 B +
  // SSM (128, 64, 128) float32 (NemotronH's default) = 4,194,304 B = 4,255,744 B; attention
  // 2 * 8 * 128 * 2 = 4,096 B per token; block 16 * ceil(4,255,744 / 65,536) = 1040, page
  // 4,259,840 B (padded by 0.10%); 4 attention : 24 Mamba layers -> 7 groups of 4;
  // 10 GiB // 4,259,840 // 4 = 630 blocks; at 8192 tokens ceil(8192 / 1040) = 8 + 6 = 14
  // blocks per request: 45.00x, int(45 * 8192) = 368,640 tokens.
  const test::TempDir dir;
  const auto r = run_ssmkit("budget --engine vllm --model Nemotron-H-8B --kv-memory 10GiB "
                            "--max-model-len 8192 --max-num-seqs 2000 --json " + quoted(dir / "v.json") +
                            " --csv " + quoted(dir / "v.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("attention block size 1040, state page padded by 0.10%"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("GPU KV cache size: 368,640 tokens"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Maximum concurrency for 8,192 tokens per request: 45.00x"), std::string::npos);
  EXPECT_NE(r.output.find("max_num_seqs (2000) exceeds available Mamba cache blocks (630)."), std::string::npos);
  // ordered_json keeps the file's key order, which is the CSV's column order.
  const auto report = nlohmann::ordered_json::parse(slurp(dir / "v.json"));
  const auto& row = report.at("rows").at(0);
  EXPECT_EQ(row.at("vllm_version"), "latest");
  EXPECT_EQ(row.at("mamba_ssm_cache_dtype"), "float32");
  EXPECT_EQ(row.at("state_page_bytes"), 4255744);
  EXPECT_EQ(row.at("attention_block_size"), 1040);
  EXPECT_EQ(row.at("page_bytes"), 4259840);
  EXPECT_EQ(row.at("kv_cache_groups"), 7);
  EXPECT_EQ(row.at("num_blocks"), 630);
  EXPECT_EQ(row.at("blocks_per_request"), 14);
  EXPECT_EQ(row.at("gpu_kv_cache_tokens"), 368640);
  EXPECT_EQ(row.at("starts"), false);
  EXPECT_EQ(row.at("largest_max_num_seqs"), 630);
  EXPECT_EQ(row.at("largest_max_model_len"), 8192);  // the model's own limit
  // The CSV header is the JSON rows' column names, in the same order.
  const std::string csv = slurp(dir / "v.csv");
  std::string header;
  for (const auto& c : report.at("columns")) header += (header.empty() ? "" : ",") + c.get<std::string>();
  EXPECT_EQ(csv.substr(0, csv.find('\n')), header);
  std::string first_cols;
  for (const auto& [k, v] : row.items()) first_cols += (first_cols.empty() ? "" : ",") + k;
  EXPECT_EQ(first_cols, header);
  // --kv-memory: no weights counted (parameters 0, weight bytes 0).
  EXPECT_NE(csv.find("Nemotron-H-8B,vllm,latest,1,,0,0,,0,0,10737418240,"), std::string::npos) << csv;
}

TEST(BudgetVllmCli, ConfigFileWithPrefixCachingUsesTheChunkAlignedBlock) {
  // Granite-4.0-H-Tiny's sizes with mamba_chunk_size 256: state (3, 3328) + (48, 64, 128), all
  // bfloat16 = 806,400 B; 2 * 4 * 128 * 2 = 2,048 B per token; prefix caching -> mode all:
  // 256 * ceil(ceil(806,400 / 2,048) / 256) = 512-token blocks, page 1,048,576 B (30.03%
  // padding); 10 groups of 4; 8 GiB // 1 MiB // 4 = 2048 blocks; 32768 tokens hold 64 pages
  // in each of the 10 groups: 640 per request, 3.20x, int(3.2 * 32768) = 104,857 tokens.
  const test::TempDir dir;
  const auto config = dir / "config.json";
  std::ofstream(config) << R"({"model_type": "granitemoehybrid", "torch_dtype": "bfloat16",
      "hidden_size": 1536, "num_hidden_layers": 40, "num_attention_heads": 12, "num_key_value_heads": 4,
      "mamba_n_heads": 48, "mamba_d_head": 64, "mamba_n_groups": 1, "mamba_d_state": 128, "mamba_d_conv": 4,
      "mamba_expand": 2, "mamba_chunk_size": 256, "max_position_embeddings": 131072,
      "layer_types": ["mamba", "mamba", "mamba", "mamba", "mamba", "attention", "mamba", "mamba", "mamba",
        "mamba", "mamba", "mamba", "mamba", "mamba", "mamba", "attention", "mamba", "mamba", "mamba", "mamba",
        "mamba", "mamba", "mamba", "mamba", "mamba", "attention", "mamba", "mamba", "mamba", "mamba", "mamba",
        "mamba", "mamba", "mamba", "mamba", "attention", "mamba", "mamba", "mamba", "mamba"]})";
  const auto r = run_ssmkit("budget --engine vllm --model " + quoted(config) +
                            " --kv-memory 8GiB --max-model-len 32768 --enable-prefix-caching --gpu h100");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("attention block size 512, state page padded by 30.03%"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mamba cache mode all"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("GPU KV cache size: 104,857 tokens"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tokens per request: 3.20x"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("max_num_seqs 1024: starts"), std::string::npos) << r.output;  // H100 default
}

struct BadVllmFlag {
  std::string args;
  std::string mentions;
};

class BudgetVllmBadInput : public ::testing::TestWithParam<BadVllmFlag> {};

TEST_P(BudgetVllmBadInput, ExitsTwoNamingTheFlag) {
  const auto r = run_ssmkit("budget --model Nemotron-H-8B " + GetParam().args);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(GetParam().mentions), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(
    Flags, BudgetVllmBadInput,
    ::testing::Values(
        BadVllmFlag{"--engine sglang", "--engine"},
        BadVllmFlag{"--engine vllm --vllm-version 0.9", "--vllm-version"},
        BadVllmFlag{"--engine vllm --kv-memory lots", "--kv-memory"},
        BadVllmFlag{"--engine vllm --kv-memory 0", "--kv-memory"},
        BadVllmFlag{"--engine vllm --kv-memory 2.30GiB", "--kv-memory"},
        BadVllmFlag{"--engine vllm --kv-memory 1GiB --reserve 1GiB", "--kv-memory"},
        BadVllmFlag{"--engine vllm --max-model-len 0", "--max-model-len"},
        BadVllmFlag{"--engine vllm --max-model-len lots", "--max-model-len"},
        BadVllmFlag{"--engine vllm --max-num-seqs 0", "--max-num-seqs"},
        BadVllmFlag{"--engine vllm --dtype fp8", "--dtype"},
        BadVllmFlag{"--engine vllm --kv-cache-dtype int4", "--kv-cache-dtype"},
        BadVllmFlag{"--engine vllm --mamba-cache-dtype fp8", "--mamba-cache-dtype"},
        BadVllmFlag{"--engine vllm --vllm-version 0.11 --mamba-cache-dtype float16", "--mamba-cache-dtype"},
        BadVllmFlag{"--engine vllm --mamba-ssm-cache-dtype half", "--mamba-ssm-cache-dtype"},
        BadVllmFlag{"--engine vllm --block-size 0", "--block-size"},
        BadVllmFlag{"--engine vllm --mamba-cache-mode some", "--mamba-cache-mode"},
        BadVllmFlag{"--engine vllm --vllm-version 0.11 --mamba-cache-mode align", "--mamba-cache-mode"},
        BadVllmFlag{"--engine vllm --mamba-cache-mode all", "--mamba-cache-mode"},  // no chunk size
        BadVllmFlag{"--engine vllm --num-speculative-tokens -1", "--num-speculative-tokens"},
        BadVllmFlag{"--engine vllm --kernel-block-alignment 0", "--kernel-block-alignment"},
        BadVllmFlag{"--engine vllm --tp 3", "--tp"},
        BadVllmFlag{"--engine vllm --state-dtype float32", "--state-dtype"},
        BadVllmFlag{"--engine vllm --context 0", "--context"},
        BadVllmFlag{"--engine vllm --reserve lots", "--reserve"},
        BadVllmFlag{"--reserve auto", "--reserve"},  // auto counts weights for --engine vllm only
        BadVllmFlag{"--engine vllm --activation-reserve lots", "--activation-reserve"},
        BadVllmFlag{"--engine vllm --kv-memory 1GiB --activation-reserve 1GiB", "--kv-memory"},
        BadVllmFlag{"--engine vllm --speculative-method eagle", "--speculative-method"},
        BadVllmFlag{"--engine vllm --speculative-method mtp", "--speculative-method"},  // no MTP layers
        BadVllmFlag{"--engine vllm --tp 1,0", "--tp"},
        BadVllmFlag{"--engine vllm --tp 1,,2", "--tp"},
        BadVllmFlag{"--engine vllm --tp 99999999999999999999", "--tp"},
        BadVllmFlag{"--state-dtype float32,fp8", "--state-dtype"},
        BadVllmFlag{"--kv-dtype bfloat16,", "--kv-dtype"},
        BadVllmFlag{"--engine vllm --mamba-ssm-cache-dtype float32,half", "--mamba-ssm-cache-dtype"},
        BadVllmFlag{"--engine vllm --kv-cache-dtype fp8,", "--kv-cache-dtype"},
        BadVllmFlag{"--engine vllm --dtype bfloat16,fp8", "--dtype"},
        BadVllmFlag{"--engine vllm --kv-memory 1GiB --max-model-len 4096 --svg /nonexistent-dir/x.svg", "--svg"},
        BadVllmFlag{"--max-model-len 1000", "--max-model-len"},
        BadVllmFlag{"--enable-prefix-caching", "--enable-prefix-caching"}));

TEST(BudgetVllmCli, AModelWithoutALengthNeedsMaxModelLen) {
  const auto r = run_ssmkit("budget --engine vllm --model mamba2-2.7b --kv-memory 1GiB");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--max-model-len"), std::string::npos) << r.output;
}

// ---- weights from the config (--reserve auto) ------------------------------------------

TEST(BudgetVllmCli, ReserveAutoSubtractsTheConfigsWeightsPerRank) {
  // Hidden 64, 2 layers, 4 heads / 2 KV heads of 16, MLP 128, vocab 1000 untied: 202,048
  // parameters (param_count_test.cpp sums them), 320 of them in norms. float16 from the
  // config: 404,096 B at TP 1; at TP 2 (202,048 - 320) / 2 + 320 = 101,184 parameters,
  // 202,368 B. The budget is floor(0.5 x 1 GiB) = 536,870,912 B minus the weights.
  const test::TempDir dir;
  const auto config = dir / "config.json";
  std::ofstream(config) << R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 1000,
      "tie_word_embeddings": false, "max_position_embeddings": 4096, "torch_dtype": "float16"})";
  const auto r = run_ssmkit("budget --engine vllm --model " + quoted(config) +
                            " --gpu-mem 1GiB --utilization 0.5 --tp 1,2 --json " + quoted(dir / "w.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(536466816 B) of KV cache memory per rank"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(536668544 B) of KV cache memory per rank"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("202048"), std::string::npos) << r.output;
  const auto report = nlohmann::json::parse(slurp(dir / "w.json"));
  ASSERT_EQ(report.at("rows").size(), 2u);
  EXPECT_EQ(report.at("rows").at(0).at("tensor_parallel"), 1);
  EXPECT_EQ(report.at("rows").at(0).at("parameters"), 202048);
  EXPECT_EQ(report.at("rows").at(0).at("weight_bytes_per_rank"), 404096);
  EXPECT_EQ(report.at("rows").at(1).at("tensor_parallel"), 2);
  EXPECT_EQ(report.at("rows").at(1).at("weight_bytes_per_rank"), 202368);
  EXPECT_EQ(report.at("rows").at(1).at("available_kv_cache_bytes"), 536870912 - 202368);
  // An explicit reserve replaces the count: 1 MiB.
  const auto fixed = run_ssmkit("budget --engine vllm --model " + quoted(config) +
                                " --gpu-mem 1GiB --utilization 0.5 --reserve 1MiB");
  ASSERT_EQ(fixed.exit_code, 0) << fixed.output;
  EXPECT_NE(fixed.output.find("(535822336 B) of KV cache memory per rank"), std::string::npos) << fixed.output;
  EXPECT_EQ(fixed.output.find("parameters"), std::string::npos) << fixed.output;
}

TEST(BudgetVllmCli, Qwen3NextOnOneH100DoesNotHoldItsWeights) {
  // The acceptance command. 79.67B parameters in bfloat16 (param_count_test.cpp) are 148.4 GiB:
  // more than an H100's 79.6 GiB at TP 1 (CUDA runs out of memory loading them); at TP 2 each
  // rank's 74.2 GiB fits the GPU but not 0.9 of it (no memory left for the cache blocks); at
  // TP 4 (37.1 GiB per rank) vLLM starts with max_num_seqs 1024.
  const auto r = run_ssmkit("budget --engine vllm --model Qwen3-Next-80B-A3B --gpu h100 --max-model-len 132000 "
                            "--max-num-seqs 1024 --tp 1,2,4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto tp2 = r.output.find("tensor parallel 2"), tp4 = r.output.find("tensor parallel 4");
  ASSERT_NE(tp2, std::string::npos);
  ASSERT_NE(tp4, std::string::npos);
  const std::string one = r.output.substr(0, tp2), two = r.output.substr(tp2, tp4 - tp2), four = r.output.substr(tp4);
  EXPECT_NE(one.find("79.674B parameters"), std::string::npos) << one;
  EXPECT_NE(one.find("max_num_seqs 1024: fails: torch.OutOfMemoryError"), std::string::npos) << one;
  EXPECT_NE(one.find("max_num_seqs that starts: 0"), std::string::npos) << one;
  EXPECT_NE(one.find("hint          starts from --tp 4 with the same flags"), std::string::npos) << one;
  EXPECT_NE(two.find("No available memory for the cache blocks"), std::string::npos) << two;
  EXPECT_NE(four.find("max_num_seqs 1024: starts"), std::string::npos) << four;
  EXPECT_EQ(four.find("hint"), std::string::npos) << four;
}

// ---- --speculative-method mtp ---------------------------------------------------------------

TEST(BudgetVllmCli, MtpLayersJoinTheAttentionLayersOfThePool) {
  // Qwen3-Next at TP 2, latest rules, --kv-memory 20 GiB, max_model_len 32768, one MTP layer
  // (vLLM's default when the config names none) and so one speculative token:
  //   GDN state: conv (3 + 1, (2*16*128 + 32*128) / 2 = 4096) bfloat16 = 32,768 B + recurrent
  //   (16, 128, 128) bfloat16 = 524,288 B = 557,056 B; attention 2 * (2 KV heads / 2) * 256 * 2
  //   = 1,024 B per token; block 16 * ceil(557,056 / (16 * 1,024)) = 544, page 557,056 B.
  //   Layers: 12 + 1 MTP = 13 attention, 36 GDN; 2 * 36 >= 3 * 13, so groups of 13: 3 GDN
  //   groups (3 padding layers) and 1 attention group.
  //   num_blocks = 21,474,836,480 // 557,056 // 13 = 38,550 // 13 = 2,965.
  //   Per request: ceil(32,768 / 544) = 61 attention pages + (1 + 1) state pages in each of 3
  //   GDN groups = 67; 2,965 / 67 = 44.25x; int(2,965 / 67 * 32,768) = 1,450,106 tokens.
  const test::TempDir dir;
  const auto r = run_ssmkit("budget --engine vllm --model Qwen3-Next-80B-A3B --kv-memory 20GiB --tp 2 "
                            "--max-model-len 32768 --speculative-method mtp --json " + quoted(dir / "m.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 MTP layer of full attention in the pool, 1 speculative token"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("attention block size 544"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3 padding layers"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("GPU KV cache size: 1,450,106 tokens"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tokens per request: 44.25x"), std::string::npos) << r.output;
  const auto row = nlohmann::json::parse(slurp(dir / "m.json")).at("rows").at(0);
  EXPECT_EQ(row.at("attention_layers"), 13);
  EXPECT_EQ(row.at("mtp_layers"), 1);
  EXPECT_EQ(row.at("num_blocks"), 2965);
  EXPECT_EQ(row.at("blocks_per_request"), 67);
}

// ---- lists of dtypes and degrees, CSV / JSON columns, the SVG ------------------------------

TEST(BudgetVllmCli, ListsGiveOneRowPerCombinationAndTheSvgALineEach) {
  // Nemotron-H-8B, --kv-memory 10 GiB, max_model_len 8192: the float32 row at TP 1 is the one of
  // NemotronHPresetReportsVllmsNumbersAndRefusal (630 blocks). bfloat16 at TP 1: state 61,440 +
  // 128 * 64 * 128 * 2 = 2,158,592 B; block 16 * ceil(2,158,592 / 65,536) = 528; page
  // 528 * 4,096 = 2,162,688 B; 10,737,418,240 // 2,162,688 // 4 = 4,964 // 4 = 1,241 blocks.
  const test::TempDir dir;
  const auto r = run_ssmkit("budget --engine vllm --model Nemotron-H-8B --kv-memory 10GiB --max-model-len 8192 "
                            "--mamba-ssm-cache-dtype float32,bfloat16 --tp 1,2 --context 1k,8k,16k --json " +
                            quoted(dir / "l.json") + " --csv " + quoted(dir / "l.csv") + " --svg " +
                            quoted(dir / "l.svg"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto report = nlohmann::ordered_json::parse(slurp(dir / "l.json"));
  const auto& rows = report.at("rows");
  ASSERT_EQ(rows.size(), 4u);
  const std::pair<int, const char*> order[] = {{1, "float32"}, {1, "bfloat16"}, {2, "float32"}, {2, "bfloat16"}};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(rows.at(i).at("tensor_parallel"), order[i].first) << i;
    EXPECT_EQ(rows.at(i).at("mamba_ssm_cache_dtype"), order[i].second) << i;
  }
  EXPECT_EQ(rows.at(0).at("num_blocks"), 630);
  EXPECT_EQ(rows.at(1).at("num_blocks"), 1241);
  // CSV: the JSON's column names as its header, one line per row.
  const std::string csv = slurp(dir / "l.csv");
  std::string header;
  for (const auto& c : report.at("columns")) header += (header.empty() ? "" : ",") + c.get<std::string>();
  EXPECT_EQ(csv.substr(0, csv.find('\n')), header);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  // SVG: a line per row; 16k is past Nemotron-H-8B's 8192 positions, drawn as an open circle;
  // the title names the budget and the dtypes.
  const std::string svg = slurp(dir / "l.svg");
  std::size_t lines = 0;
  for (std::size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) ++lines;
  EXPECT_EQ(lines, 4u);
  EXPECT_NE(svg.find("KV cache memory 10GiB per rank"), std::string::npos) << svg.substr(0, 600);
  EXPECT_NE(svg.find("kv bfloat16, conv bfloat16, ssm float32,bfloat16"), std::string::npos);
  EXPECT_NE(svg.find("fill=\"white\" stroke="), std::string::npos);
  EXPECT_NE(svg.find("past max_position_embeddings"), std::string::npos);
  const auto& curve = report.at("details").at(0).at("max_concurrency_by_context");
  ASSERT_EQ(curve.size(), 3u);
  EXPECT_EQ(curve.at(2).at("beyond_max_position_embeddings"), true);
  EXPECT_EQ(curve.at(1).at("beyond_max_position_embeddings"), false);
  // At 8k the curve is the row's own concurrency: 630 blocks over 14 per request.
  EXPECT_DOUBLE_EQ(curve.at(1).at("max_concurrency").get<double>(), 630.0 / 14.0);
}

TEST(BudgetVllmCli, ReserveAutoNamesTheFlagForAModelItCannotCount) {
  const auto r = run_ssmkit("budget --engine vllm --model Zamba2-2.7B --max-model-len 4096");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--reserve"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ssmkit::vllm
