// Every cache's reported memory equals what it allocated: the bytes its allocator was asked
// for, the sum of its storage tensors' nbytes, and hand-computed sizes for known configs;
// on every allocator (host and GPU memory), and for OmittedStorage what it omitted.
#include <gtest/gtest.h>

#include "ssmkit/cache/hybrid_cache.hpp"
#include "ssmkit/cache/kv_cache.hpp"
#include "storage_allocators.hpp"

namespace ssmkit {
namespace {

class CacheAccounting : public test::OnEveryAllocator {};
SSMKIT_ON_EVERY_ALLOCATOR(CacheAccounting);

constexpr DType kDtypes[] = {DType::float32, DType::bfloat16, DType::float16, DType::float64};

template <class Cache>
std::size_t allocated(const Cache& cache) {
  std::size_t total = 0;
  for (const auto& [name, tensor] : cache.storage()) total += tensor->nbytes();
  return total;
}

TEST_P(CacheAccounting, KVCache) {
  for (const DType dtype : kDtypes) {
    test::CountingStorage counting(allocator());
    const KVCache cache({3, 4, 16, 2, 8, dtype}, counting);
    EXPECT_EQ(counting.bytes_allocated(), cache.usage().bytes_allocated);
    const std::size_t per_token = 2 * 3 * 2 * 8 * dtype_size(dtype);  // K+V, layers, heads, dim
    EXPECT_EQ(cache.usage().bytes_per_token, per_token);
    EXPECT_EQ(cache.usage().bytes_allocated, per_token * 4 * 16);
    EXPECT_EQ(allocated(cache), cache.usage().bytes_allocated) << dtype_name(dtype);
  }
}

TEST_P(CacheAccounting, PagedKVCacheFromBytesAndFromUtilization) {
  for (const DType dtype : kDtypes) {
    PagedKVCacheConfig config;
    config.num_layers = 2, config.kv_heads = 4, config.head_dim = 8, config.page_size = 16;
    config.max_seq_len = 256, config.dtype = dtype;
    const std::size_t per_token = 2 * 2 * 4 * 8 * dtype_size(dtype);
    const std::size_t per_page = 16 * per_token;
    config.memory = MemoryBudget::fixed(10 * per_page + per_page / 2);  // 10.5 pages
    test::CountingStorage counting(allocator());
    PagedKVCache cache(config, counting);
    EXPECT_EQ(counting.bytes_allocated(), cache.usage().bytes_allocated);
    EXPECT_EQ(cache.usage().bytes_per_token, per_token);
    EXPECT_EQ(cache.usage().bytes_allocated, 10 * per_page);
    EXPECT_EQ(allocated(cache), cache.usage().bytes_allocated) << dtype_name(dtype);
    EXPECT_EQ(cache.usage().pages_free, 9);  // page 0 is the dummy page
    ASSERT_EQ(cache.extend(1, 40), CacheStatus::ok);
    EXPECT_EQ(cache.usage().pages_in_use, 3);
    EXPECT_EQ(cache.usage().pages_free, 6);
    EXPECT_EQ(allocated(cache), cache.usage().bytes_allocated);  // a fixed pool

    const std::size_t device = 1000 * per_page;
    config.memory = MemoryBudget::fraction_of(device, 0.25);
    const PagedKVCache fraction(config, allocator());
    EXPECT_EQ(fraction.usage().bytes_allocated, 250 * per_page);
    EXPECT_EQ(allocated(fraction), fraction.usage().bytes_allocated);
    EXPECT_LE(allocated(fraction), device / 4);
  }
}

TEST_P(CacheAccounting, StateCaches) {
  for (const DType dtype : kDtypes) {
    // Mamba1: layers * intermediate * (conv_kernel * conv bytes + d_state * ssm bytes).
    test::CountingStorage counting(allocator());
    const MambaStateCache mamba({3, 5, 16, 4, 4, dtype, DType::float32}, counting);
    EXPECT_EQ(counting.bytes_allocated(), mamba.usage().bytes_allocated);
    const std::size_t mamba_seq = 3 * 16 * (4 * dtype_size(dtype) + 4 * 4);
    EXPECT_EQ(mamba.usage().bytes_per_sequence, mamba_seq);
    EXPECT_EQ(mamba.usage().bytes_allocated, 5 * mamba_seq);
    EXPECT_EQ(allocated(mamba), mamba.usage().bytes_allocated) << dtype_name(dtype);

    Mamba2CacheConfig c;
    c.num_layers = 2, c.max_batch = 3, c.intermediate_size = 32, c.num_heads = 4;
    c.head_dim = 8, c.n_groups = 2, c.d_state = 4, c.conv_kernel = 4;
    c.conv_dtype = dtype, c.ssm_dtype = DType::float32;
    const Mamba2StateCache mamba2(c, allocator());
    const std::size_t conv = (32 + 2 * 2 * 4) * 4 * dtype_size(dtype), ssm = 4 * 8 * 4 * 4;
    EXPECT_EQ(mamba2.usage().bytes_per_sequence, 2 * (conv + ssm));
    EXPECT_EQ(mamba2.usage().bytes_allocated, 3 * 2 * (conv + ssm));
    EXPECT_EQ(allocated(mamba2), mamba2.usage().bytes_allocated) << dtype_name(dtype);

    const LinearAttentionStateCache linear({2, 3, 4, 8, 16, dtype}, allocator());
    EXPECT_EQ(linear.usage().bytes_per_sequence, 2 * 4 * 8 * 16 * dtype_size(dtype));
    EXPECT_EQ(allocated(linear), linear.usage().bytes_allocated) << dtype_name(dtype);
    EXPECT_EQ(linear.usage().bytes_allocated, 3 * linear.usage().bytes_per_sequence);
  }
}

TEST_P(CacheAccounting, HybridSumsItsParts) {
  for (const DType dtype : kDtypes) {
    HybridCacheConfig c;
    c.layers = {LayerKind::mamba2, LayerKind::attention, LayerKind::mamba2, LayerKind::mamba,
                LayerKind::linear_attention};
    c.max_requests = 4;
    PagedKVCacheConfig attention;
    attention.num_layers = 1, attention.kv_heads = 2, attention.head_dim = 4;
    attention.page_size = 8, attention.max_seq_len = 64, attention.dtype = dtype;
    attention.memory = MemoryBudget::fixed(20 * attention.bytes_per_page());
    c.attention = attention;
    Mamba2CacheConfig m2;
    m2.num_layers = 2, m2.max_batch = 4, m2.intermediate_size = 8, m2.num_heads = 4;
    m2.head_dim = 2, m2.n_groups = 1, m2.d_state = 3, m2.conv_kernel = 4;
    m2.conv_dtype = dtype, m2.ssm_dtype = DType::float32;
    c.mamba2 = m2;
    c.mamba = MambaCacheConfig{1, 4, 6, 3, 4, dtype, dtype};
    c.linear_attention = LinearAttentionCacheConfig{1, 4, 2, 3, 3, dtype};
    test::CountingStorage counting(allocator());
    HybridCache cache(c, counting);
    const CacheUsage usage = cache.usage();
    EXPECT_EQ(counting.bytes_allocated(), usage.bytes_allocated) << dtype_name(dtype);
    OmittedStorage omitted;
    const HybridCache bare(c, omitted);
    EXPECT_EQ(omitted.bytes_omitted(), usage.bytes_allocated) << dtype_name(dtype);
    EXPECT_EQ(bare.usage().bytes_allocated, usage.bytes_allocated);
    EXPECT_EQ(allocated(cache), usage.bytes_allocated) << dtype_name(dtype);
    EXPECT_EQ(usage.bytes_allocated, allocated(cache.attention()) + allocated(cache.mamba2()) +
                                         allocated(cache.mamba()) +
                                         allocated(cache.linear_attention()));
    EXPECT_EQ(usage.bytes_per_sequence, cache.mamba2().usage().bytes_per_sequence +
                                            cache.mamba().usage().bytes_per_sequence +
                                            cache.linear_attention().usage().bytes_per_sequence);
    EXPECT_EQ(usage.bytes_per_token, attention.bytes_per_token());
    ASSERT_EQ(cache.admit(1, 17).status, CacheStatus::ok);
    EXPECT_EQ(cache.usage().pages_in_use, 3);
    EXPECT_EQ(cache.usage().pages_free, 16);
  }
}

}  // namespace
}  // namespace ssmkit
