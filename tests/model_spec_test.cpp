// Model presets and the per-rank cache configuration. Expected values are written from the
// models' config.json numbers and transformers'/vLLM's layout and sharding rules, not read
// back from the code under test.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"

namespace ssmkit {
namespace {

// Decoder-layer indices of the entries of one kind.
std::vector<std::int64_t> decoder_layers_of(const ModelSpec& m, LayerKind kind) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    if (m.layers[i] == kind) out.push_back(m.decoder_layer_of(i));
  }
  return out;
}

std::vector<std::int64_t> range(std::int64_t first, std::int64_t step, std::int64_t count) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < count; ++i) out.push_back(first + i * step);
  return out;
}

CacheSettings settings(std::int64_t tp = 1, std::int64_t requests = 4) {
  CacheSettings s;
  s.tensor_parallel = tp;
  s.max_requests = requests;
  return s;
}

std::string field_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.field();
  }
  return "(no InputError)";
}

TEST(ModelPresets, EveryPresetValidatesAndBuildsACacheConfig) {
  const auto names = model_preset_names();
  EXPECT_GE(names.size(), 9u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const ModelSpec m = model_preset(name);
    EXPECT_EQ(m.name, name);
    EXPECT_FALSE(m.source.empty());
    EXPECT_NO_THROW(m.validate());
    EXPECT_NO_THROW(make_hybrid_cache_config(m, settings()));
  }
}

TEST(ModelPresets, UnknownNameListsThePresets) {
  try {
    model_preset("mamba-9000");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "mamba-9000");
    EXPECT_NE(e.expected().find("Jamba-v0.1"), std::string::npos) << e.what();
  }
}

TEST(ModelPresets, Mamba1Models) {
  const ModelSpec small = model_preset("mamba-130m");
  EXPECT_EQ(small.count(LayerKind::mamba), 24);
  EXPECT_EQ(small.layers.size(), 24u);
  EXPECT_EQ(small.mamba->intermediate_size, 1536);
  EXPECT_EQ(small.mamba->d_state, 16);
  EXPECT_EQ(small.mamba->conv_kernel, 4);
  EXPECT_FALSE(small.attention);
  EXPECT_EQ(small.max_position_embeddings, 0);

  const ModelSpec big = model_preset("mamba-2.8b");
  EXPECT_EQ(big.count(LayerKind::mamba), 64);
  EXPECT_EQ(big.mamba->intermediate_size, 5120);
  EXPECT_EQ(big.mamba->d_state, 16);
}

TEST(ModelPresets, Mamba2FromMambaSsmDefaults) {
  const ModelSpec m = model_preset("mamba2-2.7b");
  EXPECT_EQ(m.count(LayerKind::mamba2), 64);
  EXPECT_EQ(m.layers.size(), 64u);
  // d_model 2560 * expand 2 = 5120 = 80 heads of 64; d_state 128, 1 group, conv 4.
  EXPECT_EQ(m.mamba2->intermediate_size, 5120);
  EXPECT_EQ(m.mamba2->num_heads, 80);
  EXPECT_EQ(m.mamba2->head_dim, 64);
  EXPECT_EQ(m.mamba2->n_groups, 1);
  EXPECT_EQ(m.mamba2->d_state, 128);
  EXPECT_EQ(m.mamba2->conv_kernel, 4);
}

TEST(ModelPresets, JambaAttentionEveryEighthLayerFromOffsetFour) {
  const ModelSpec m = model_preset("Jamba-v0.1");
  EXPECT_EQ(m.layers.size(), 32u);
  EXPECT_EQ(decoder_layers_of(m, LayerKind::attention), (std::vector<std::int64_t>{4, 12, 20, 28}));
  EXPECT_EQ(m.count(LayerKind::mamba), 28);
  EXPECT_EQ(m.attention->num_heads, 32);
  EXPECT_EQ(m.attention->kv_heads, 8);
  EXPECT_EQ(m.attention->head_dim, 4096 / 32);
  EXPECT_EQ(m.mamba->intermediate_size, 2 * 4096);
  EXPECT_EQ(m.mamba->d_state, 16);
  EXPECT_EQ(m.max_position_embeddings, 262144);
}

TEST(ModelPresets, Zamba2CountsEverySharedBlockInvocation) {
  const ModelSpec m = model_preset("Zamba2-2.7B");
  EXPECT_EQ(m.decoder_layers(), 54);
  EXPECT_EQ(m.count(LayerKind::mamba2), 54);  // every layer has its own Mamba2 mixer
  EXPECT_EQ(m.count(LayerKind::attention), 9);
  EXPECT_EQ(decoder_layers_of(m, LayerKind::attention),
            (std::vector<std::int64_t>{6, 12, 18, 24, 30, 36, 42, 47, 51}));
  // The shared block runs before the layer's Mamba2 mixer.
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    if (m.layers[i] == LayerKind::attention) {
      ASSERT_LT(i + 1, m.layers.size());
      EXPECT_EQ(m.layers[i + 1], LayerKind::mamba2);
      EXPECT_EQ(m.decoder_layer_of(i + 1), m.decoder_layer_of(i));
    }
  }
  // Attention over [hidden; embeddings]: head_dim = 2 * 2560 / 32.
  EXPECT_EQ(m.attention->head_dim, 160);
  EXPECT_EQ(m.attention->kv_heads, 32);
  EXPECT_EQ(m.mamba2->num_heads, 80);
  EXPECT_EQ(m.mamba2->head_dim, 64);
  EXPECT_EQ(m.mamba2->d_state, 64);
  EXPECT_EQ(m.mamba2->n_groups, 1);
}

TEST(ModelPresets, FalconH1RunsBothMixersInEveryLayer) {
  const ModelSpec m = model_preset("Falcon-H1-7B");
  EXPECT_EQ(m.decoder_layers(), 44);
  EXPECT_EQ(m.count(LayerKind::attention), 44);
  EXPECT_EQ(m.count(LayerKind::mamba2), 44);
  EXPECT_EQ(decoder_layers_of(m, LayerKind::attention), range(0, 1, 44));
  EXPECT_EQ(decoder_layers_of(m, LayerKind::mamba2), range(0, 1, 44));
  EXPECT_EQ(m.attention->num_heads, 12);
  EXPECT_EQ(m.attention->kv_heads, 2);
  EXPECT_EQ(m.attention->head_dim, 128);
  EXPECT_EQ(m.mamba2->intermediate_size, 3072);  // mamba_d_ssm, not expand * hidden = 6144
  EXPECT_EQ(m.mamba2->num_heads, 24);
  EXPECT_EQ(m.mamba2->head_dim, 128);
  EXPECT_EQ(m.mamba2->d_state, 256);
}

TEST(ModelPresets, NemotronHPatternSkipsMlpLayers) {
  const ModelSpec m = model_preset("Nemotron-H-8B");
  EXPECT_EQ(m.decoder_layers(), 52);
  EXPECT_EQ(m.layers.size(), 28u);
  EXPECT_EQ(m.count(LayerKind::mamba2), 24);
  EXPECT_EQ(decoder_layers_of(m, LayerKind::attention), (std::vector<std::int64_t>{7, 18, 29, 40}));
  EXPECT_EQ(m.attention->kv_heads, 8);
  EXPECT_EQ(m.attention->head_dim, 128);
  EXPECT_EQ(m.mamba2->num_heads, 128);
  EXPECT_EQ(m.mamba2->head_dim, 64);
  EXPECT_EQ(m.mamba2->intermediate_size, 8192);
  EXPECT_EQ(m.mamba2->n_groups, 8);
  EXPECT_EQ(m.mamba2->d_state, 128);
  EXPECT_EQ(m.max_position_embeddings, 8192);
}

TEST(ModelPresets, GraniteHybridLayerTypes) {
  const ModelSpec m = model_preset("Granite-4.0-H-Tiny");
  EXPECT_EQ(m.layers.size(), 40u);
  EXPECT_EQ(decoder_layers_of(m, LayerKind::attention), (std::vector<std::int64_t>{5, 15, 25, 35}));
  EXPECT_EQ(m.count(LayerKind::mamba2), 36);
  EXPECT_EQ(m.attention->head_dim, 1536 / 12);
  EXPECT_EQ(m.attention->kv_heads, 4);
  EXPECT_EQ(m.mamba2->intermediate_size, 2 * 1536);
  EXPECT_EQ(m.mamba2->num_heads, 48);
  EXPECT_EQ(m.mamba2->d_state, 128);
}

TEST(ModelPresets, MiniMaxSoftmaxEveryEighthLayer) {
  const ModelSpec m = model_preset("MiniMax-Text-01");
  EXPECT_EQ(m.layers.size(), 80u);
  EXPECT_EQ(decoder_layers_of(m, LayerKind::attention), range(7, 8, 10));
  EXPECT_EQ(m.count(LayerKind::linear_attention), 70);
  EXPECT_EQ(m.linear_attention->num_heads, 64);
  EXPECT_EQ(m.linear_attention->key_dim, 128);
  EXPECT_EQ(m.linear_attention->value_dim, 128);
  EXPECT_EQ(m.attention->kv_heads, 8);
  EXPECT_EQ(m.attention->head_dim, 128);
}

TEST(ModelPresets, ResolveTakesAPresetOrAPath) {
  EXPECT_EQ(resolve_model("Jamba-v0.1").name, "Jamba-v0.1");
  EXPECT_EQ(field_of([] { resolve_model("no-such-model"); }), "no-such-model");
  EXPECT_EQ(field_of([] { resolve_model("/no/such/config.json"); }), "");  // the file's error
}

TEST(HybridCacheFromModel, OneRankAtTensorParallelOne) {
  const ModelSpec m = model_preset("Jamba-v0.1");
  const HybridCacheConfig c = make_hybrid_cache_config(m, settings(1, 6));
  EXPECT_EQ(c.layers, m.layers);
  EXPECT_EQ(c.max_requests, 6);
  EXPECT_EQ(c.mamba->max_batch, 6);
  EXPECT_EQ(c.mamba->num_layers, 28);
  EXPECT_EQ(c.mamba->intermediate_size, 8192);
  EXPECT_EQ(c.attention->num_layers, 4);
  EXPECT_EQ(c.attention->kv_heads, 8);
  EXPECT_EQ(c.attention->max_seq_len, 262144);  // max_position_embeddings by default
  EXPECT_EQ(c.attention->page_size, 16);
  EXPECT_EQ(c.attention->dtype, DType::bfloat16);
  EXPECT_EQ(c.mamba->conv_dtype, DType::bfloat16);
  EXPECT_EQ(c.mamba->ssm_dtype, DType::float32);

  CacheSettings s = settings();
  s.max_seq_len = 4096;
  EXPECT_EQ(make_hybrid_cache_config(m, s).attention->max_seq_len, 4096);
}

TEST(HybridCacheFromModel, ShardsAndReplicatesLikeVllm) {
  const ModelSpec jamba = model_preset("Jamba-v0.1");
  const HybridCacheConfig tp2 = make_hybrid_cache_config(jamba, settings(2));
  EXPECT_EQ(tp2.attention->kv_heads, 4);
  EXPECT_EQ(tp2.mamba->intermediate_size, 4096);
  // 8 KV heads on 16 ranks: each rank holds one replicated head.
  const HybridCacheConfig tp16 = make_hybrid_cache_config(jamba, settings(16));
  EXPECT_EQ(tp16.attention->kv_heads, 1);
  EXPECT_EQ(tp16.mamba->intermediate_size, 512);
  EXPECT_EQ(field_of([&] { make_hybrid_cache_config(jamba, settings(3)); }), "attention.num_heads");

  // mamba2-2.7b at tp 4: 20 heads per rank, its single group replicated: the conv window has
  // (5120 + 2 * (1 + 3) * 128) / 4 = 1536 channels per rank, as vLLM's mamba2_state_shape.
  const HybridCacheConfig m2 = make_hybrid_cache_config(model_preset("mamba2-2.7b"), settings(4));
  EXPECT_EQ(m2.mamba2->num_heads, 20);
  EXPECT_EQ(m2.mamba2->intermediate_size, 1280);
  EXPECT_EQ(m2.mamba2->n_groups, 1);
  EXPECT_EQ(m2.mamba2->conv_channels(), 1536);

  // Nemotron-H: 8 groups shard at tp 8, not at tp 16 (neither 1 nor divisible).
  const ModelSpec nemotron = model_preset("Nemotron-H-8B");
  EXPECT_EQ(make_hybrid_cache_config(nemotron, settings(8)).mamba2->n_groups, 1);
  EXPECT_EQ(make_hybrid_cache_config(nemotron, settings(8)).mamba2->num_heads, 16);
  EXPECT_EQ(field_of([&] { make_hybrid_cache_config(nemotron, settings(16)); }), "mamba2.n_groups");

  // Falcon-H1: 2 KV heads on 4 ranks are replicated; 3 ranks divide neither.
  const ModelSpec falcon = model_preset("Falcon-H1-7B");
  const HybridCacheConfig f4 = make_hybrid_cache_config(falcon, settings(4));
  EXPECT_EQ(f4.attention->kv_heads, 1);
  EXPECT_EQ(f4.mamba2->num_heads, 6);
  EXPECT_EQ(field_of([&] { make_hybrid_cache_config(falcon, settings(3)); }), "attention.kv_heads");

  const HybridCacheConfig mm = make_hybrid_cache_config(model_preset("MiniMax-Text-01"), settings(8));
  EXPECT_EQ(mm.linear_attention->num_heads, 8);
  EXPECT_EQ(mm.attention->kv_heads, 1);
  EXPECT_EQ(mm.linear_attention->max_batch, 4);
}

TEST(HybridCacheFromModel, SettingsErrorsNameTheField) {
  const ModelSpec m = model_preset("Jamba-v0.1");
  EXPECT_EQ(field_of([&] { make_hybrid_cache_config(m, settings(0)); }), "tensor_parallel");
  EXPECT_EQ(field_of([&] { make_hybrid_cache_config(m, settings(1, 0)); }), "max_requests");
  CacheSettings s = settings();
  s.page_size = 0;
  EXPECT_EQ(field_of([&] { make_hybrid_cache_config(m, s); }), "page_size");
  s = settings();
  s.kv_dtype = DType::int32;
  EXPECT_EQ(field_of([&] { make_hybrid_cache_config(m, s); }), "dtype");
  // An attention model without max_position_embeddings needs max_seq_len.
  ModelSpec no_limit = model_preset("Llama-3.1-8B");
  no_limit.max_position_embeddings = 0;
  EXPECT_EQ(field_of([&] { make_hybrid_cache_config(no_limit, settings()); }), "max_seq_len");
  // A pure SSM needs none.
  EXPECT_NO_THROW(make_hybrid_cache_config(model_preset("mamba-130m"), settings()));
  // A stated budget is validated too.
  s = settings();
  s.kv_memory = MemoryBudget::fixed(1);
  EXPECT_EQ(field_of([&] { make_hybrid_cache_config(m, s); }), "memory");
}

TEST(ModelSpecValidate, NamesTheInconsistentField) {
  ModelSpec m = model_preset("Jamba-v0.1");
  m.mamba.reset();
  EXPECT_EQ(field_of([&] { m.validate(); }), "mamba");
  m = model_preset("mamba-130m");
  m.attention = AttentionLayerSpec{8, 8, 64};
  EXPECT_EQ(field_of([&] { m.validate(); }), "attention");
  m = model_preset("mamba2-2.7b");
  m.mamba2->n_groups = 3;
  EXPECT_EQ(field_of([&] { m.validate(); }), "mamba2.n_groups");
  m = model_preset("Llama-3.1-8B");
  m.attention->kv_heads = 5;
  EXPECT_EQ(field_of([&] { m.validate(); }), "attention.kv_heads");
  m = model_preset("Nemotron-H-8B");
  m.decoder_layer.pop_back();
  EXPECT_EQ(field_of([&] { m.validate(); }), "decoder_layer");
  m = model_preset("Nemotron-H-8B");
  m.decoder_layer[3] = 0;
  EXPECT_EQ(field_of([&] { m.validate(); }), "decoder_layer[3]");
  m = ModelSpec{};
  EXPECT_EQ(field_of([&] { m.validate(); }), "layers");
}

}  // namespace
}  // namespace ssmkit
