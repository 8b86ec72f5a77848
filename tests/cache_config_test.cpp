// Every cache config rejects a non-positive or inconsistent dimension with an InputError
// naming the field, and every cache validates its config on construction.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "ssmkit/cache/hybrid_cache.hpp"
#include "ssmkit/cache/kv_cache.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {
namespace {

// The field of the InputError `f` throws, or a marker when it throws none.
std::string error_field(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(e.field()), std::string::npos) << e.what();
    return e.field();
  }
  return "<no InputError>";
}

KVCacheConfig kv_config() { return {2, 4, 16, 2, 8, DType::bfloat16}; }

PagedKVCacheConfig paged_config() {
  PagedKVCacheConfig c;
  c.num_layers = 2, c.kv_heads = 2, c.head_dim = 8, c.page_size = 4, c.max_seq_len = 64;
  c.dtype = DType::float16;
  c.memory = MemoryBudget::fixed(1 << 16);
  return c;
}

MambaCacheConfig mamba_config() { return {2, 3, 16, 4, 4, DType::bfloat16, DType::float32}; }

Mamba2CacheConfig mamba2_config() {
  Mamba2CacheConfig c;
  c.num_layers = 2, c.max_batch = 3, c.intermediate_size = 32, c.num_heads = 4, c.head_dim = 8;
  c.n_groups = 2, c.d_state = 4, c.conv_kernel = 4;
  return c;
}

LinearAttentionCacheConfig linear_config() { return {2, 3, 2, 4, 5, DType::float32}; }

template <class Config>
void expect_each_field_checked(
    const Config& good, const std::vector<std::pair<std::string, std::int64_t Config::*>>& fields) {
  EXPECT_EQ(error_field([&] { good.validate(); }), "<no InputError>");
  for (const auto& [name, member] : fields) {
    for (const std::int64_t bad : {0, -3}) {
      Config c = good;
      c.*member = bad;
      EXPECT_EQ(error_field([&] { c.validate(); }), name) << name << " = " << bad;
    }
  }
}

TEST(CacheConfig, KVCacheEachField) {
  expect_each_field_checked<KVCacheConfig>(kv_config(), {{"num_layers", &KVCacheConfig::num_layers},
                                                         {"max_batch", &KVCacheConfig::max_batch},
                                                         {"max_len", &KVCacheConfig::max_len},
                                                         {"kv_heads", &KVCacheConfig::kv_heads},
                                                         {"head_dim", &KVCacheConfig::head_dim}});
  KVCacheConfig c = kv_config();
  c.dtype = DType::int32;
  EXPECT_EQ(error_field([&] { c.validate(); }), "dtype");
  EXPECT_EQ(error_field([&] { KVCache cache(c); }), "dtype");
}

TEST(CacheConfig, PagedKVCacheEachField) {
  expect_each_field_checked<PagedKVCacheConfig>(
      paged_config(), {{"num_layers", &PagedKVCacheConfig::num_layers},
                       {"kv_heads", &PagedKVCacheConfig::kv_heads},
                       {"head_dim", &PagedKVCacheConfig::head_dim},
                       {"page_size", &PagedKVCacheConfig::page_size},
                       {"max_seq_len", &PagedKVCacheConfig::max_seq_len}});
  PagedKVCacheConfig c = paged_config();
  c.dtype = DType::int64;
  EXPECT_EQ(error_field([&] { c.validate(); }), "dtype");
  EXPECT_EQ(error_field([&] { PagedKVCache cache(c); }), "dtype");
}

TEST(CacheConfig, PagedKVCacheMemoryBudget) {
  PagedKVCacheConfig c = paged_config();
  c.memory = MemoryBudget{};
  EXPECT_EQ(error_field([&] { c.validate(); }), "memory");
  c.memory = MemoryBudget{1 << 16, 1 << 20, 0.5};
  EXPECT_EQ(error_field([&] { c.validate(); }), "memory");
  for (const double utilization : {0.0, -0.25, 1.0001, 2.0, std::nan("")}) {
    c.memory = MemoryBudget::fraction_of(1 << 20, utilization);
    EXPECT_EQ(error_field([&] { c.validate(); }), "memory.utilization") << utilization;
  }
  c.memory = MemoryBudget::fraction_of(0, 0.5);
  EXPECT_EQ(error_field([&] { c.validate(); }), "memory.device_memory_bytes");
  // One page is not enough: page 0 is the dummy page.
  c.memory = MemoryBudget::fixed(2 * c.bytes_per_page() - 1);
  EXPECT_EQ(error_field([&] { c.validate(); }), "memory");
  c.memory = MemoryBudget::fixed(2 * c.bytes_per_page());
  EXPECT_EQ(c.num_pages(), 2);
  c.memory = MemoryBudget::fraction_of(10 * c.bytes_per_page(), 1.0);
  EXPECT_EQ(c.num_pages(), 10);
  c.memory = MemoryBudget::fraction_of(10 * c.bytes_per_page(), 0.55);
  EXPECT_EQ(c.num_pages(), 5);
}

TEST(CacheConfig, MambaEachField) {
  expect_each_field_checked<MambaCacheConfig>(
      mamba_config(), {{"num_layers", &MambaCacheConfig::num_layers},
                       {"max_batch", &MambaCacheConfig::max_batch},
                       {"intermediate_size", &MambaCacheConfig::intermediate_size},
                       {"d_state", &MambaCacheConfig::d_state},
                       {"conv_kernel", &MambaCacheConfig::conv_kernel}});
  MambaCacheConfig c = mamba_config();
  c.conv_dtype = DType::int32;
  EXPECT_EQ(error_field([&] { MambaStateCache cache(c); }), "conv_dtype");
  c = mamba_config();
  c.ssm_dtype = DType::int64;
  EXPECT_EQ(error_field([&] { MambaStateCache cache(c); }), "ssm_dtype");
}

TEST(CacheConfig, Mamba2EachField) {
  expect_each_field_checked<Mamba2CacheConfig>(
      mamba2_config(), {{"num_layers", &Mamba2CacheConfig::num_layers},
                        {"max_batch", &Mamba2CacheConfig::max_batch},
                        {"intermediate_size", &Mamba2CacheConfig::intermediate_size},
                        {"num_heads", &Mamba2CacheConfig::num_heads},
                        {"head_dim", &Mamba2CacheConfig::head_dim},
                        {"n_groups", &Mamba2CacheConfig::n_groups},
                        {"d_state", &Mamba2CacheConfig::d_state},
                        {"conv_kernel", &Mamba2CacheConfig::conv_kernel}});
  Mamba2CacheConfig c = mamba2_config();
  c.conv_dtype = DType::int32;
  EXPECT_EQ(error_field([&] { c.validate(); }), "conv_dtype");
  c = mamba2_config();
  c.ssm_dtype = DType::int32;
  EXPECT_EQ(error_field([&] { Mamba2StateCache cache(c); }), "ssm_dtype");
}

TEST(CacheConfig, Mamba2InconsistentDimensions) {
  Mamba2CacheConfig c = mamba2_config();
  c.n_groups = 3;  // 4 heads cannot be split into 3 groups
  EXPECT_EQ(error_field([&] { Mamba2StateCache cache(c); }), "n_groups");
  c = mamba2_config();
  c.intermediate_size = 30;  // 4 heads * 8 = 32
  EXPECT_EQ(error_field([&] { Mamba2StateCache cache(c); }), "intermediate_size");
  c = mamba2_config();
  c.head_dim = 4;
  EXPECT_EQ(error_field([&] { c.validate(); }), "intermediate_size");
  EXPECT_EQ(mamba2_config().conv_channels(), 32 + 2 * 2 * 4);
}

TEST(CacheConfig, LinearAttentionEachField) {
  expect_each_field_checked<LinearAttentionCacheConfig>(
      linear_config(), {{"num_layers", &LinearAttentionCacheConfig::num_layers},
                        {"max_batch", &LinearAttentionCacheConfig::max_batch},
                        {"num_heads", &LinearAttentionCacheConfig::num_heads},
                        {"key_dim", &LinearAttentionCacheConfig::key_dim},
                        {"value_dim", &LinearAttentionCacheConfig::value_dim}});
  LinearAttentionCacheConfig c = linear_config();
  c.dtype = DType::int32;
  EXPECT_EQ(error_field([&] { LinearAttentionStateCache cache(c); }), "dtype");
}

TEST(CacheConfig, PageManagerAndSlotPool) {
  EXPECT_EQ(error_field([] { PageManager m(1, 4); }), "num_pages");
  EXPECT_EQ(error_field([] { PageManager m(8, 0); }), "page_size");
  EXPECT_EQ(error_field([] { StateSlotPool p(0); }), "num_slots");
}

HybridCacheConfig hybrid_config() {
  HybridCacheConfig c;
  c.layers = {LayerKind::mamba2, LayerKind::attention, LayerKind::mamba2};
  c.max_requests = 3;
  c.attention = paged_config();
  c.attention->num_layers = 1;
  c.mamba2 = mamba2_config();
  return c;
}

TEST(CacheConfig, HybridLayoutMatchesParts) {
  EXPECT_EQ(error_field([] { hybrid_config().validate(); }), "<no InputError>");
  HybridCacheConfig c = hybrid_config();
  c.layers.clear();
  EXPECT_EQ(error_field([&] { c.validate(); }), "layers");
  c = hybrid_config();
  c.max_requests = 0;
  EXPECT_EQ(error_field([&] { c.validate(); }), "max_requests");
  c = hybrid_config();
  c.mamba2.reset();
  EXPECT_EQ(error_field([&] { HybridCache cache(c); }), "mamba2");
  c = hybrid_config();
  c.mamba = mamba_config();
  EXPECT_EQ(error_field([&] { c.validate(); }), "mamba");
  c = hybrid_config();
  c.mamba2->num_layers = 3;
  EXPECT_EQ(error_field([&] { c.validate(); }), "mamba2.num_layers");
  c = hybrid_config();
  c.attention->num_layers = 2;
  EXPECT_EQ(error_field([&] { c.validate(); }), "attention.num_layers");
  c = hybrid_config();
  c.mamba2->max_batch = 4;
  EXPECT_EQ(error_field([&] { c.validate(); }), "mamba2.max_batch");
  c = hybrid_config();
  c.mamba2->n_groups = 3;
  EXPECT_EQ(error_field([&] { c.validate(); }), "n_groups");
}

}  // namespace
}  // namespace ssmkit
