// Memory budget math: per-kind bytes against hand calculations from the config values, and
// the reported capacity against the HybridCache the library actually builds and fills.
#include <gtest/gtest.h>

#include <functional>

#include "ssmkit/error.hpp"
#include "ssmkit/model/memory_budget.hpp"

namespace ssmkit {
namespace {

struct Expected {
  std::size_t conv = 0, ssm = 0, linear = 0, kv_per_token = 0;
};

const LayerKindMemory* kind_of(const ModelMemory& m, LayerKind kind) {
  for (const auto& k : m.kinds) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

void expect_memory(const std::string& preset, std::int64_t tp, const Expected& e) {
  SCOPED_TRACE(preset + " tp " + std::to_string(tp));
  CacheSettings s;  // conv bf16, SSM and lightning float32, KV bf16
  s.tensor_parallel = tp;
  const ModelMemory m = model_memory(model_preset(preset), s);
  const LayerKindMemory* mamba = kind_of(m, LayerKind::mamba);
  const LayerKindMemory* mamba2 = kind_of(m, LayerKind::mamba2);
  const LayerKindMemory* ssm = mamba != nullptr ? mamba : mamba2;
  EXPECT_EQ(ssm ? ssm->conv_bytes_per_sequence : 0, e.conv);
  EXPECT_EQ(ssm ? ssm->state_bytes_per_sequence : 0, e.ssm);
  const LayerKindMemory* linear = kind_of(m, LayerKind::linear_attention);
  EXPECT_EQ(linear ? linear->state_bytes_per_sequence : 0, e.linear);
  EXPECT_EQ(m.kv_bytes_per_token, e.kv_per_token);
  EXPECT_EQ(m.state_bytes_per_sequence, e.conv + e.ssm + e.linear);
  EXPECT_EQ(m.kv_bytes_per_page, 16 * e.kv_per_token);
}

// Written from each config.json: conv = (channels) * W * layers * 2 bytes (bf16), SSM =
// heads * head_dim * d_state (or intermediate * d_state) * 4 bytes * layers, KV = K and V *
// attention layers * KV heads * head_dim * 2 bytes.
TEST(BudgetMemory, HandCalculationsFromConfigValues) {
  expect_memory("mamba2-2.7b", 1, {(5120 + 2 * 128) * 4 * 64 * 2, 80ull * 64 * 128 * 4 * 64, 0, 0});
  expect_memory("mamba-130m", 1, {1536 * 4 * 24 * 2, 1536ull * 16 * 4 * 24, 0, 0});
  expect_memory("mamba-2.8b", 1, {5120 * 4 * 64 * 2, 5120ull * 16 * 4 * 64, 0, 0});
  expect_memory("Jamba-v0.1", 1, {8192 * 4 * 28 * 2, 8192ull * 16 * 4 * 28, 0, 2 * 4 * 8 * 128 * 2});
  expect_memory("Zamba2-2.7B", 1,
                {(5120 + 2 * 64) * 4 * 54 * 2, 80ull * 64 * 64 * 4 * 54, 0, 2 * 9 * 32 * 160 * 2});
  expect_memory("Falcon-H1-7B", 1,
                {(3072 + 2 * 256) * 4 * 44 * 2, 24ull * 128 * 256 * 4 * 44, 0, 2 * 44 * 2 * 128 * 2});
  expect_memory("Nemotron-H-8B", 1,
                {(8192 + 2 * 8 * 128) * 4 * 24 * 2, 128ull * 64 * 128 * 4 * 24, 0, 2 * 4 * 8 * 128 * 2});
  expect_memory("Granite-4.0-H-Tiny", 1,
                {(3072 + 2 * 128) * 4 * 36 * 2, 48ull * 64 * 128 * 4 * 36, 0, 2 * 4 * 4 * 128 * 2});
  expect_memory("MiniMax-Text-01", 1, {0, 0, 70ull * 64 * 128 * 128 * 4, 2 * 10 * 8 * 128 * 2});
  expect_memory("Llama-3.1-8B", 1, {0, 0, 0, 2 * 32 * 8 * 128 * 2});
  // One rank's share: mamba2-2.7b at tp 4 holds 20 heads and the replicated group
  // ((5120 + 2 * 4 * 128) / 4 conv channels); Jamba at tp 16 one replicated KV head.
  expect_memory("mamba2-2.7b", 4, {(1280 + 2 * 128) * 4 * 64 * 2, 20ull * 64 * 128 * 4 * 64, 0, 0});
  expect_memory("Jamba-v0.1", 16, {512 * 4 * 28 * 2, 512ull * 16 * 4 * 28, 0, 2 * 4 * 1 * 128 * 2});
}

TEST(BudgetMemory, DtypesChangeTheBytes) {
  CacheSettings s;
  s.conv_dtype = DType::float32;
  s.ssm_dtype = DType::bfloat16;
  s.kv_dtype = DType::float16;
  s.page_size = 32;
  const ModelMemory m = model_memory(model_preset("Jamba-v0.1"), s);
  const LayerKindMemory* mamba = kind_of(m, LayerKind::mamba);
  EXPECT_EQ(mamba->conv_bytes_per_sequence, 8192u * 4 * 28 * 4);
  EXPECT_EQ(mamba->state_bytes_per_sequence, 8192u * 16 * 28 * 2);
  EXPECT_EQ(m.kv_bytes_per_token, 2u * 4 * 8 * 128 * 2);
  EXPECT_EQ(m.kv_bytes_per_page, 32u * m.kv_bytes_per_token);
}

TEST(BudgetMemory, CapacityFormula) {
  CacheSettings s;
  const ModelMemory jamba = model_memory(model_preset("Jamba-v0.1"), s);
  const std::size_t state = 8192u * 4 * 28 * 2 + 8192u * 16 * 4 * 28;  // 16,515,072
  const std::size_t page = 16u * 16384;
  const std::size_t budget = 72ull << 30;
  const ContextCapacity c = capacity_at(jamba, budget, 1000);
  EXPECT_EQ(c.pages_per_sequence, 63);  // ceil(1000 / 16)
  EXPECT_EQ(c.bytes_per_sequence, state + 63 * page);
  EXPECT_EQ(c.max_sequences, static_cast<std::int64_t>((budget - page) / (state + 63 * page)));
  // Pure SSM: the budget over the state, whatever the context.
  const ModelMemory mamba = model_memory(model_preset("mamba-130m"), s);
  const std::size_t mamba_state = 1536u * 4 * 24 * 2 + 1536u * 16 * 4 * 24;
  for (const std::int64_t context : {1, 1000, 1 << 20}) {
    const ContextCapacity m = capacity_at(mamba, budget, context);
    EXPECT_EQ(m.pages_per_sequence, 0);
    EXPECT_EQ(m.bytes_per_sequence, mamba_state);
    EXPECT_EQ(m.max_sequences, static_cast<std::int64_t>(budget / mamba_state));
  }
  EXPECT_EQ(capacity_at(jamba, page - 1, 16).max_sequences, 0);
  EXPECT_THROW(capacity_at(jamba, budget, 0), InputError);
}

std::size_t allocated(const HybridCache& cache) {
  std::size_t total = 0;
  for (const auto& [name, tensor] : cache.storage()) total += tensor->nbytes();
  return total;
}

std::size_t allocated_matching(const HybridCache& cache, const std::string& suffix) {
  std::size_t total = 0;
  for (const auto& [name, tensor] : cache.storage()) {
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      total += tensor->nbytes();
    }
  }
  return total;
}

// Admits `n` sequences of `context` tokens; the status of the first that fails, or ok.
CacheStatus admit_all(HybridCache& cache, std::int64_t n, std::int64_t context) {
  for (std::int64_t r = 0; r < n; ++r) {
    const auto a = cache.admit(static_cast<RequestId>(r), context);
    if (a.status != CacheStatus::ok) return a.status;
  }
  return CacheStatus::ok;
}

// Whether n sequences of `context` tokens can live in `budget` bytes, asked of the cache
// library itself: the configuration must build, its storage stay within the budget, and
// every sequence be admitted.
bool cache_holds(const ModelSpec& model, const CacheSettings& s, std::size_t budget,
                 std::int64_t n, std::int64_t context) {
  HybridCacheConfig config;
  try {
    config = budget_cache_config(model, s, budget, n, context);
    HybridCache cache(config);
    if (allocated(cache) > budget) return false;
    return admit_all(cache, n, context) == CacheStatus::ok;
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "memory") << e.what();  // only a pool too small to build
    return false;
  }
}

struct CapacityCase {
  std::string preset;
  std::int64_t tp;
  std::int64_t context;
  std::int64_t sequences;  // the budget is sized for this many, plus a partial one
};

void PrintTo(const CapacityCase& c, std::ostream* os) {
  *os << c.preset << " tp " << c.tp << ", " << c.context << " tokens, " << c.sequences
      << " sequences";
}

class BudgetAgainstCache : public ::testing::TestWithParam<CapacityCase> {};

TEST_P(BudgetAgainstCache, ReportedMaximumIsWhatTheCacheAdmits) {
  const CapacityCase& p = GetParam();
  const ModelSpec model = model_preset(p.preset);
  CacheSettings s;
  s.tensor_parallel = p.tp;
  const ModelMemory memory = model_memory(model, s);
  const std::size_t per_sequence = capacity_at(memory, 1, p.context).bytes_per_sequence;
  // Room for `sequences` and most of one more, plus the dummy page.
  const std::size_t exact = p.sequences * per_sequence + memory.kv_bytes_per_page;
  const std::size_t budget = exact + per_sequence * 3 / 4;
  const ContextCapacity cap = capacity_at(memory, budget, p.context);
  ASSERT_EQ(cap.max_sequences, p.sequences);

  // N fits: the cache builds inside the budget and admits every sequence.
  {
    const HybridCacheConfig config = budget_cache_config(model, s, budget, cap.max_sequences, p.context);
    HybridCache cache(config);
    EXPECT_LE(allocated(cache), budget);
    EXPECT_EQ(cache.usage().bytes_allocated, allocated(cache));
    EXPECT_EQ(admit_all(cache, cap.max_sequences, p.context), CacheStatus::ok);
    // The per-kind split is what the state caches allocated, slot by slot.
    for (const LayerKindMemory& k : memory.kinds) {
      const std::string prefix(layer_kind_name(k.kind));
      if (k.kind == LayerKind::attention) continue;
      if (k.kind == LayerKind::linear_attention) {
        EXPECT_EQ(allocated_matching(cache, "/state"), k.state_bytes_per_sequence * cap.max_sequences);
      } else {
        EXPECT_EQ(allocated_matching(cache, "/conv_state"), k.conv_bytes_per_sequence * cap.max_sequences);
        EXPECT_EQ(allocated_matching(cache, "/ssm_state"), k.state_bytes_per_sequence * cap.max_sequences);
      }
    }
  }
  // N+1 does not.
  EXPECT_FALSE(cache_holds(model, s, budget, cap.max_sequences + 1, p.context));
  // The bound is tight: the exact budget still holds N, one byte less does not (the dummy
  // page and the page rounding are counted).
  EXPECT_TRUE(cache_holds(model, s, exact, p.sequences, p.context));
  EXPECT_FALSE(cache_holds(model, s, exact - 1, p.sequences, p.context));
  EXPECT_EQ(capacity_at(memory, exact - 1, p.context).max_sequences, p.sequences - 1);
}

INSTANTIATE_TEST_SUITE_P(
    Models, BudgetAgainstCache,
    ::testing::Values(CapacityCase{"mamba-130m", 1, 1000, 3},        // pure SSM (Mamba1)
                      CapacityCase{"mamba2-2.7b", 8, 4096, 2},       // pure SSM (Mamba2)
                      CapacityCase{"Llama-3.1-8B", 8, 300, 3},       // attention only
                      CapacityCase{"Jamba-v0.1", 8, 1000, 3},        // hybrid, Mamba1
                      CapacityCase{"Nemotron-H-8B", 8, 777, 2},      // hybrid, cacheless layers
                      CapacityCase{"Zamba2-2.7B", 8, 513, 2},        // shared attention blocks
                      CapacityCase{"Granite-4.0-H-Tiny", 4, 2048, 2},  // layer_types
                      CapacityCase{"Falcon-H1-7B", 12, 100, 2},      // parallel hybrid
                      CapacityCase{"MiniMax-Text-01", 16, 64, 2}),   // lightning + softmax
    [](const auto& info) {
      std::string name = info.param.preset;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace ssmkit
