// HybridCache: one admission / extension / release lifecycle over attention pages and
// Mamba / Mamba2 / lightning states; all or nothing; a reused slot starts from zeros;
// pages and slots conserved over thousands of random steps.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <set>

#include "ssmkit/cache/hybrid_cache.hpp"
#include "ssmkit/error.hpp"
#include "storage_allocators.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

class HybridCacheOnStorage : public test::OnEveryAllocator {};
SSMKIT_ON_EVERY_ALLOCATOR(HybridCacheOnStorage);

using test::random_tensor;

bool all_zero(const Tensor& t) {
  for (std::size_t i = 0; i < t.nbytes(); ++i) {
    if (t.bytes()[i] != std::byte{0}) return false;
  }
  return true;
}

// Layers: mamba2, attention, mamba, linear_attention, attention, mamba2.
HybridCacheConfig hybrid_config(std::int64_t max_requests, std::int64_t pages,
                                DType dtype = DType::float32) {
  HybridCacheConfig c;
  c.layers = {LayerKind::mamba2,           LayerKind::attention, LayerKind::mamba,
              LayerKind::linear_attention, LayerKind::attention, LayerKind::mamba2};
  c.max_requests = max_requests;
  PagedKVCacheConfig attention;
  attention.num_layers = 2, attention.kv_heads = 2, attention.head_dim = 4;
  attention.page_size = 4, attention.max_seq_len = 40, attention.dtype = dtype;
  attention.memory =
      MemoryBudget::fixed(static_cast<std::size_t>(pages) * attention.bytes_per_page());
  c.attention = attention;
  c.mamba = MambaCacheConfig{1, max_requests, 6, 3, 4, dtype, DType::float32};
  Mamba2CacheConfig m2;
  m2.num_layers = 2, m2.max_batch = max_requests, m2.intermediate_size = 8, m2.num_heads = 4;
  m2.head_dim = 2, m2.n_groups = 2, m2.d_state = 3, m2.conv_kernel = 4;
  m2.conv_dtype = dtype, m2.ssm_dtype = dtype;
  c.mamba2 = m2;
  c.linear_attention = LinearAttentionCacheConfig{1, max_requests, 2, 3, 3, dtype};
  return c;
}

TEST_P(HybridCacheOnStorage, MapsModelLayersToTheirCaches) {
  HybridCache cache(hybrid_config(2, 8), allocator());
  EXPECT_EQ(cache.num_layers(), 6);
  EXPECT_EQ(cache.layer_kind(3), LayerKind::linear_attention);
  EXPECT_EQ(cache.cache_layer(0), 0);
  EXPECT_EQ(cache.cache_layer(4), 1);  // second attention layer
  EXPECT_EQ(cache.cache_layer(5), 1);  // second mamba2 layer
  EXPECT_THROW(cache.layer_kind(6), InputError);
  EXPECT_EQ(parse_layer_kind("mamba2"), LayerKind::mamba2);
  EXPECT_EQ(parse_layer_kind("moe"), std::nullopt);

  HybridCacheConfig only_mamba2;
  only_mamba2.layers = {LayerKind::mamba2};
  only_mamba2.max_requests = 2;
  only_mamba2.mamba2 = hybrid_config(2, 8).mamba2;
  only_mamba2.mamba2->num_layers = 1;
  HybridCache pure(only_mamba2, allocator());
  EXPECT_THROW(pure.attention(), InputError);
  const auto admission = pure.admit(1, 1000);  // no pages to run out of
  EXPECT_EQ(admission.status, CacheStatus::ok);
  EXPECT_EQ(pure.mamba2().position(admission.slot), 1000);
}

TEST_P(HybridCacheOnStorage, AdmitExtendReleaseOverEveryKind) {
  HybridCache cache(hybrid_config(2, 16), allocator());
  const auto a = cache.admit(7, 5);
  ASSERT_EQ(a.status, CacheStatus::ok);
  EXPECT_EQ(a.slot, 0);
  EXPECT_EQ(cache.attention().page_table(7).size(), 2u);
  EXPECT_EQ(cache.mamba().position(a.slot), 5);
  EXPECT_EQ(cache.mamba2().position(a.slot), 5);
  EXPECT_EQ(cache.linear_attention().position(a.slot), 5);
  ASSERT_EQ(cache.extend(7, 4), CacheStatus::ok);
  EXPECT_EQ(cache.length(7), 9);
  EXPECT_EQ(cache.attention().length(7), 9);
  EXPECT_EQ(cache.attention().page_table(7).size(), 3u);
  EXPECT_EQ(cache.mamba2().position(a.slot), 9);
  const auto b = cache.admit(8, 0);
  ASSERT_EQ(b.status, CacheStatus::ok);
  EXPECT_EQ(b.slot, 1);
  const std::optional<RequestId> batch[] = {8, std::nullopt, 7};
  EXPECT_EQ(cache.batch_slots(batch), std::vector<std::int64_t>({1, kPadSlot, 0}));
  cache.release(7);
  EXPECT_FALSE(cache.contains(7));
  EXPECT_FALSE(cache.attention().contains(7));
  EXPECT_EQ(cache.usage().pages_in_use, 0);
  EXPECT_EQ(cache.slots().slots_in_use(), 1);
  EXPECT_THROW(cache.release(7), InputError);
  EXPECT_THROW((void)cache.extend(7, 1), InputError);
  EXPECT_THROW((void)cache.admit(8, 1), InputError);
}

// The engine's step: admit (or extend), then write each layer's new K/V and states through
// the parts at the request's pages and slot.
TEST_P(HybridCacheOnStorage, StepsWriteThroughTheParts) {
  std::mt19937 rng(3);
  HybridCache cache(hybrid_config(2, 16, DType::float64), allocator());
  ASSERT_EQ(cache.admit(1, 2).status, CacheStatus::ok);
  const auto admission = cache.admit(2, 5);
  ASSERT_EQ(admission.status, CacheStatus::ok);
  std::map<std::int64_t, KeyValue> prompt;
  for (std::int64_t layer = 0; layer < cache.num_layers(); ++layer) {
    if (cache.layer_kind(layer) == LayerKind::attention) {
      prompt[layer] = {random_tensor({5, 2, 4}, rng), random_tensor({5, 2, 4}, rng)};
      cache.attention().write(2, cache.cache_layer(layer), 0, prompt[layer]);
    } else if (cache.layer_kind(layer) == LayerKind::mamba2) {
      cache.mamba2().set_ssm_state(cache.cache_layer(layer), admission.slot,
                                   random_tensor({4, 2, 3}, rng));
    }
  }
  ASSERT_EQ(cache.extend(2, 1), CacheStatus::ok);
  const KeyValue token{random_tensor({1, 2, 4}, rng), random_tensor({1, 2, 4}, rng)};
  cache.attention().write(2, cache.cache_layer(4), 5, token);
  const KeyValue layer4 = cache.attention().gather(2, cache.cache_layer(4));
  ASSERT_EQ(layer4.key.shape(), Shape({6, 2, 4}));
  EXPECT_EQ(std::memcmp(layer4.key.bytes(), prompt[4].key.bytes(), prompt[4].key.nbytes()), 0);
  EXPECT_EQ(std::memcmp(layer4.value.bytes() + prompt[4].value.nbytes(), token.value.bytes(),
                        token.value.nbytes()),
            0);
  EXPECT_EQ(cache.attention().gather(2, cache.cache_layer(1)).key.numel(), 6 * 2 * 4);
  EXPECT_FALSE(all_zero(cache.mamba2().ssm_state(1, admission.slot)));
  EXPECT_TRUE(all_zero(cache.mamba2().ssm_state(1, cache.slot_of(1))));
}

TEST_P(HybridCacheOnStorage, AdmissionIsAllOrNothing) {
  HybridCache cache(hybrid_config(2, 4), allocator());  // 3 usable pages of 4 tokens
  ASSERT_EQ(cache.admit(1, 8).status, CacheStatus::ok);
  // Not enough pages: the slot it would have taken is given back.
  EXPECT_EQ(cache.admit(2, 5).status, CacheStatus::out_of_pages);
  EXPECT_FALSE(cache.contains(2));
  EXPECT_EQ(cache.slots().slots_in_use(), 1);
  EXPECT_EQ(cache.admit(2, 41).status, CacheStatus::sequence_full);
  EXPECT_EQ(cache.slots().slots_in_use(), 1);
  ASSERT_EQ(cache.admit(2, 4).status, CacheStatus::ok);
  // No slot left, even though the request would need no page.
  EXPECT_EQ(cache.admit(3, 0).status, CacheStatus::out_of_slots);
  EXPECT_FALSE(cache.attention().contains(3));
  // A failed extension changes neither the pages nor the positions.
  EXPECT_EQ(cache.extend(2, 1), CacheStatus::out_of_pages);
  EXPECT_EQ(cache.length(2), 4);
  EXPECT_EQ(cache.mamba2().position(cache.slot_of(2)), 4);
  EXPECT_EQ(cache.attention().page_table(2).size(), 1u);
}

// A request that finishes leaves its states in its slot; the next request to get that slot
// must see zeros in every layer of every state cache, and no other slot may change.
TEST_P(HybridCacheOnStorage, ReusedSlotStartsFromZeros) {
  std::mt19937 rng(1);
  for (const DType dtype : {DType::float32, DType::bfloat16, DType::float16}) {
    HybridCache cache(hybrid_config(3, 16, dtype), allocator());
    const auto first = cache.admit(1, 3);
    const auto other = cache.admit(2, 3);
    ASSERT_EQ(first.status, CacheStatus::ok);
    for (const std::int64_t slot : {first.slot, other.slot}) {
      for (std::int64_t layer = 0; layer < 2; ++layer) {
        cache.mamba2().set_conv_window(layer, slot, random_tensor({20, 4}, rng));
        cache.mamba2().set_ssm_state(layer, slot, random_tensor({4, 2, 3}, rng));
      }
      cache.mamba().set_conv_window(0, slot, random_tensor({6, 4}, rng));
      cache.mamba().set_ssm_state(0, slot, random_tensor({6, 3}, rng));
      cache.linear_attention().set_state(0, slot, random_tensor({2, 3, 3}, rng));
    }
    const Tensor other_state = cache.mamba2().ssm_state(1, other.slot);
    cache.release(1);
    const auto next = cache.admit(3, 2);
    ASSERT_EQ(next.status, CacheStatus::ok);
    ASSERT_EQ(next.slot, first.slot);  // the lowest free slot: the one just released
    for (std::int64_t layer = 0; layer < 2; ++layer) {
      EXPECT_TRUE(all_zero(cache.mamba2().conv_window(layer, next.slot)));
      EXPECT_TRUE(all_zero(cache.mamba2().ssm_state(layer, next.slot)));
    }
    EXPECT_TRUE(all_zero(cache.mamba().conv_window(0, next.slot)));
    EXPECT_TRUE(all_zero(cache.mamba().ssm_state(0, next.slot)));
    EXPECT_TRUE(all_zero(cache.linear_attention().state(0, next.slot)));
    EXPECT_EQ(cache.mamba2().position(next.slot), 2);
    const Tensor still = cache.mamba2().ssm_state(1, other.slot);
    EXPECT_EQ(std::memcmp(still.bytes(), other_state.bytes(), still.nbytes()), 0);
    EXPECT_FALSE(all_zero(still));
  }
}

// Thousands of seeded random admissions, extensions and releases. After every step: each
// live request holds its own slot and exactly ceil(length / page_size) pages that no one
// else holds, the dummy page belongs to no one, pages in use + free = the pool, positions
// equal lengths. Failed steps change nothing. At the end every page and slot is free.
TEST_P(HybridCacheOnStorage, RandomLifecycleConservesPagesAndSlots) {
  std::mt19937 rng(2024);
  const std::int64_t max_requests = 6, pages = 24;
  HybridCache cache(hybrid_config(max_requests, pages), allocator());
  std::map<RequestId, std::int64_t> live;  // the model: request -> length
  RequestId next_id = 1;
  int failures = 0;
  for (int step = 0; step < 4000; ++step) {
    const int action = std::uniform_int_distribution<int>(0, 9)(rng);
    const auto pages_before = cache.usage().pages_in_use;
    if (action < 4 || live.empty()) {
      const std::int64_t prompt = std::uniform_int_distribution<std::int64_t>(0, 14)(rng);
      const auto admission = cache.admit(next_id, prompt);
      if (admission.status == CacheStatus::ok) {
        live[next_id] = prompt;
      } else {
        ++failures;
        ASSERT_FALSE(cache.contains(next_id));
        ASSERT_EQ(cache.usage().pages_in_use, pages_before);
      }
      ++next_id;
    } else {
      auto it = live.begin();
      std::advance(it, std::uniform_int_distribution<std::size_t>(0, live.size() - 1)(rng));
      if (action < 8) {
        const std::int64_t tokens = std::uniform_int_distribution<std::int64_t>(1, 6)(rng);
        const CacheStatus status = cache.extend(it->first, tokens);
        if (status == CacheStatus::ok) {
          it->second += tokens;
        } else {
          ++failures;
          ASSERT_EQ(cache.usage().pages_in_use, pages_before);
        }
      } else {
        cache.release(it->first);
        live.erase(it);
      }
    }
    std::set<std::int64_t> slots, owned_pages;
    for (const auto& [request, length] : live) {
      ASSERT_EQ(cache.length(request), length);
      const std::int64_t slot = cache.slot_of(request);
      ASSERT_TRUE(slots.insert(slot).second) << "slot " << slot << " has two owners";
      ASSERT_EQ(cache.mamba2().position(slot), length);
      ASSERT_EQ(cache.linear_attention().position(slot), length);
      const auto table = cache.attention().page_table(request);
      ASSERT_EQ(static_cast<std::int64_t>(table.size()), (length + 3) / 4);
      for (const std::int64_t page : table) {
        ASSERT_NE(page, PageManager::kDummyPage);
        ASSERT_TRUE(owned_pages.insert(page).second) << "page " << page << " has two owners";
        ASSERT_EQ(cache.attention().page_manager().owner_of(page), request);
      }
    }
    const CacheUsage usage = cache.usage();
    ASSERT_EQ(usage.pages_in_use, static_cast<std::int64_t>(owned_pages.size()));
    ASSERT_EQ(usage.pages_in_use + usage.pages_free, pages - 1);
    ASSERT_EQ(cache.slots().slots_in_use(), static_cast<std::int64_t>(live.size()));
    ASSERT_EQ(cache.attention().requests().size(), live.size());
  }
  EXPECT_GT(failures, 100);  // the pool was under pressure, so exhaustion paths ran
  for (const auto& [request, length] : live) cache.release(request);
  EXPECT_EQ(cache.usage().pages_in_use, 0);
  EXPECT_EQ(cache.usage().pages_free, pages - 1);
  EXPECT_EQ(cache.slots().slots_free(), max_requests);
}

}  // namespace
}  // namespace ssmkit
