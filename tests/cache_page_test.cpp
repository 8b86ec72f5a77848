// PageManager: FIFO pool with a reserved dummy page, ownership checked on free, exhaustion
// reported; PagedKVCache: page rollover at boundaries, writes and gathers, exhaustion
// that overwrites nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "ssmkit/cache/paged_kv_cache.hpp"
#include "ssmkit/error.hpp"
#include "storage_allocators.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

class PagedKVCacheOnStorage : public test::OnEveryAllocator {};
SSMKIT_ON_EVERY_ALLOCATOR(PagedKVCacheOnStorage);

using test::same_bytes;

using test::random_tensor;

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no InputError>";
}

using Pages = std::vector<std::int64_t>;

TEST(PageManager, HandsOutFifoAndNeverTheDummyPage) {
  PageManager m(5, 4);
  EXPECT_EQ(m.pages_free(), 4);
  EXPECT_EQ(m.allocate(1, 2), Pages({1, 2}));
  EXPECT_EQ(m.allocate(2, 2), Pages({3, 4}));
  EXPECT_EQ(m.pages_in_use(), 4);
  EXPECT_EQ(m.allocate(3, 1), std::nullopt);
  m.free(1, Pages{2});
  EXPECT_EQ(m.owner_of(2), std::nullopt);
  EXPECT_EQ(m.owner_of(1), RequestId{1});
  EXPECT_EQ(m.owner_of(PageManager::kDummyPage), std::nullopt);
  EXPECT_EQ(m.allocate(3, 1), Pages({2}));
  EXPECT_EQ(m.allocate(3, 0), Pages{});
}

TEST(PageManager, AllocatesForPrefillByPageSize) {
  PageManager m(16, 4);
  EXPECT_EQ(m.allocate_for_prefill(1, 0)->size(), 0u);
  EXPECT_EQ(m.allocate_for_prefill(1, 4)->size(), 1u);
  EXPECT_EQ(m.allocate_for_prefill(1, 5)->size(), 2u);
  EXPECT_EQ(m.allocate_for_prefill(1, 9)->size(), 3u);
  EXPECT_EQ(m.pages_in_use(), 6);
  EXPECT_EQ(m.allocate_for_prefill(2, 40), std::nullopt);  // 10 pages, 9 free
  EXPECT_EQ(m.pages_in_use(), 6);
}

TEST(PageManager, BadFreesAreErrorsAndFreeNothing) {
  PageManager m(8, 4);
  const Pages mine = *m.allocate(1, 3);    // 1, 2, 3
  const Pages theirs = *m.allocate(2, 2);  // 4, 5
  EXPECT_NE(error_text([&] { m.free(2, Pages{mine[0]}); }).find("belongs to request 1"),
            std::string::npos);
  EXPECT_NE(error_text([&] { m.free(1, Pages{0}); }).find("dummy page"), std::string::npos);
  EXPECT_NE(error_text([&] { m.free(1, Pages{8}); }).find("page 8"), std::string::npos);
  EXPECT_NE(error_text([&] { m.free(1, Pages{6}); }).find("double free"), std::string::npos);
  // A bad page anywhere in the call leaves every page of the call where it was.
  EXPECT_NE(error_text([&] { m.free(1, Pages{1, 2, 2}); }).find("double free"), std::string::npos);
  EXPECT_NE(error_text([&] {
              m.free(1, Pages{1, 4});
            }).find("belongs to request 2"),
            std::string::npos);
  EXPECT_EQ(m.pages_in_use(), 5);
  for (const auto page : mine) EXPECT_EQ(m.owner_of(page), RequestId{1});
  m.free(1, mine);
  EXPECT_NE(error_text([&] { m.free(1, Pages{mine[1]}); }).find("double free"), std::string::npos);
  EXPECT_EQ(m.pages_in_use(), 2);
  for (const auto page : theirs) EXPECT_EQ(m.owner_of(page), RequestId{2});
}

// Thousands of random allocations and frees, with bad frees mixed in: the manager always
// agrees with a model of who owns what, no page is lost and none has two owners.
TEST(PageManager, RandomStepsConservePages) {
  std::mt19937 rng(11);
  const std::int64_t num_pages = 33;
  PageManager m(num_pages, 8);
  std::map<RequestId, std::set<std::int64_t>> model;
  std::uniform_int_distribution<int> action(0, 9), owner_dist(0, 6), count_dist(0, 6);
  for (int step = 0; step < 5000; ++step) {
    const RequestId owner = static_cast<RequestId>(owner_dist(rng));
    const int a = action(rng);
    if (a < 5) {
      const std::int64_t count = count_dist(rng);
      const auto free_before = m.pages_free();
      const auto pages = m.allocate(owner, count);
      if (count > free_before) {
        EXPECT_FALSE(pages.has_value());
      } else {
        ASSERT_TRUE(pages.has_value());
        for (const auto p : *pages) ASSERT_TRUE(model[owner].insert(p).second);
      }
    } else if (a < 8 && !model[owner].empty()) {
      // Free a random subset of the owner's pages.
      Pages to_free;
      for (const auto p : model[owner]) {
        if (rng() % 2) to_free.push_back(p);
      }
      m.free(owner, to_free);
      for (const auto p : to_free) model[owner].erase(p);
    } else {
      // A page this owner does not hold: freeing it must throw and change nothing.
      const std::int64_t page = std::uniform_int_distribution<std::int64_t>(0, num_pages - 1)(rng);
      if (model[owner].contains(page)) continue;
      EXPECT_THROW(m.free(owner, Pages{page}), InputError);
    }
    std::int64_t owned = 0;
    std::vector<int> owners_of_page(num_pages, 0);
    for (const auto& [who, pages] : model) {
      for (const auto p : pages) {
        ASSERT_NE(p, PageManager::kDummyPage);
        ASSERT_EQ(m.owner_of(p), who);
        ++owners_of_page[p];
        ++owned;
      }
    }
    for (const int n : owners_of_page) ASSERT_LE(n, 1);
    ASSERT_EQ(m.pages_in_use(), owned);
    ASSERT_EQ(m.pages_in_use() + m.pages_free(), num_pages - 1);
    const Pages free_list = m.free_pages();
    ASSERT_EQ(std::set<std::int64_t>(free_list.begin(), free_list.end()).size(), free_list.size());
    for (const auto p : free_list) ASSERT_EQ(m.owner_of(p), std::nullopt);
  }
}

PagedKVCacheConfig paged_config(std::int64_t pages, DType dtype = DType::float64) {
  PagedKVCacheConfig c;
  c.num_layers = 2, c.kv_heads = 2, c.head_dim = 3, c.page_size = 4, c.max_seq_len = 64;
  c.dtype = dtype;
  c.memory = MemoryBudget::fixed(static_cast<std::size_t>(pages) * c.bytes_per_page());
  return c;
}

std::vector<KeyValue> random_step(std::mt19937& rng, std::int64_t tokens) {
  std::vector<KeyValue> layers;
  for (int layer = 0; layer < 2; ++layer) {
    layers.push_back({random_tensor({tokens, 2, 3}, rng), random_tensor({tokens, 2, 3}, rng)});
  }
  return layers;
}

// Concatenates tokens along the first axis.
Tensor concat(const Tensor& a, const Tensor& b) {
  Tensor out(a.dtype(), {a.dim(0) + b.dim(0), a.dim(1), a.dim(2)});
  std::memcpy(out.bytes(), a.bytes(), a.nbytes());
  std::memcpy(out.bytes() + a.nbytes(), b.bytes(), b.nbytes());
  return out;
}

TEST_P(PagedKVCacheOnStorage, RollsOverToANewPageAtEachBoundary) {
  std::mt19937 rng(1);
  PagedKVCache cache(paged_config(16), allocator());
  auto prompt = random_step(rng, 3);
  ASSERT_EQ(cache.prefill(7, prompt), CacheStatus::ok);
  EXPECT_EQ(cache.page_table(7).size(), 1u);
  std::vector<Tensor> keys{prompt[0].key, prompt[1].key}, values{prompt[0].value, prompt[1].value};
  // Lengths 4 (fills the first page), 5 (rolls over), 8 (fills the second), 9 (third page).
  const std::map<std::int64_t, std::size_t> pages_at_length{{4, 1}, {5, 2}, {8, 2}, {9, 3}};
  for (std::int64_t length = 4; length <= 9; ++length) {
    auto token = random_step(rng, 1);
    ASSERT_EQ(cache.append(7, token), CacheStatus::ok);
    EXPECT_EQ(cache.length(7), length);
    if (pages_at_length.contains(length)) {
      EXPECT_EQ(cache.page_table(7).size(), pages_at_length.at(length)) << "length " << length;
    }
    for (int layer = 0; layer < 2; ++layer) {
      keys[layer] = concat(keys[layer], token[layer].key);
      values[layer] = concat(values[layer], token[layer].value);
    }
  }
  for (int layer = 0; layer < 2; ++layer) {
    const KeyValue kv = cache.gather(7, layer);
    EXPECT_TRUE(same_bytes(kv.key, keys[layer]));
    EXPECT_TRUE(same_bytes(kv.value, values[layer]));
  }
  // Position 4 (first token of the second logical page) sits at row 0 of that page.
  const auto table = cache.page_table(7);
  const Tensor key_pages = cache.key_pages(0).to_host();
  const std::int64_t row = 2 * 3;
  EXPECT_EQ(std::memcmp(key_pages.bytes() + table[1] * 4 * row * 8, keys[0].bytes() + 4 * row * 8,
                        row * 8),
            0);
}

TEST_P(PagedKVCacheOnStorage, PrefillOfWholePagesTakesNoSparePage) {
  std::mt19937 rng(2);
  PagedKVCache cache(paged_config(16), allocator());
  ASSERT_EQ(cache.prefill(1, random_step(rng, 8)), CacheStatus::ok);
  EXPECT_EQ(cache.page_table(1).size(), 2u);
  ASSERT_EQ(cache.prefill(2, random_step(rng, 0)), CacheStatus::ok);
  EXPECT_EQ(cache.page_table(2).size(), 0u);
  ASSERT_EQ(cache.append(2, random_step(rng, 1)), CacheStatus::ok);
  EXPECT_EQ(cache.page_table(2).size(), 1u);
}

TEST_P(PagedKVCacheOnStorage, WritesRoundToTheCacheDtype) {
  std::mt19937 rng(3);
  for (const DType dtype : {DType::float32, DType::bfloat16, DType::float16}) {
    PagedKVCache cache(paged_config(8, dtype), allocator());
    const auto step = random_step(rng, 6);
    ASSERT_EQ(cache.prefill(1, step), CacheStatus::ok);
    const KeyValue kv = cache.gather(1, 1);
    EXPECT_TRUE(same_bytes(kv.key, step[1].key.to(dtype))) << dtype_name(dtype);
    EXPECT_TRUE(same_bytes(kv.value, step[1].value.to(dtype))) << dtype_name(dtype);
  }
}

TEST_P(PagedKVCacheOnStorage, ExhaustionIsReportedAndOverwritesNothing) {
  std::mt19937 rng(4);
  PagedKVCache cache(paged_config(5), allocator());  // 4 usable pages of 4 tokens
  ASSERT_EQ(cache.prefill(1, random_step(rng, 8)), CacheStatus::ok);  // 2 pages
  ASSERT_EQ(cache.prefill(2, random_step(rng, 7)), CacheStatus::ok);  // 2 pages
  const KeyValue before1 = cache.gather(1, 0), before2 = cache.gather(2, 1);
  EXPECT_EQ(cache.usage().pages_free, 0);

  EXPECT_EQ(cache.prefill(3, random_step(rng, 1)), CacheStatus::out_of_pages);
  EXPECT_FALSE(cache.contains(3));
  EXPECT_EQ(cache.append(2, random_step(rng, 1)), CacheStatus::ok);  // fills page 2 of request 2
  EXPECT_EQ(cache.append(2, random_step(rng, 1)), CacheStatus::out_of_pages);
  EXPECT_EQ(cache.append(1, random_step(rng, 3)), CacheStatus::out_of_pages);
  EXPECT_EQ(cache.extend(1, 1), CacheStatus::out_of_pages);
  const RequestId batch[] = {1, 2};
  const std::vector<KeyValue> decode = random_step(rng, 2);
  EXPECT_EQ(cache.append_decode(batch, decode), CacheStatus::out_of_pages);

  EXPECT_EQ(cache.length(1), 8);
  EXPECT_EQ(cache.length(2), 8);
  EXPECT_EQ(cache.usage().pages_in_use, 4);
  EXPECT_TRUE(same_bytes(cache.gather(1, 0).key, before1.key));
  EXPECT_TRUE(same_bytes(cache.gather(1, 0).value, before1.value));
  const KeyValue after2 = cache.gather(2, 1);
  EXPECT_EQ(std::memcmp(after2.key.bytes(), before2.key.bytes(), before2.key.nbytes()), 0);

  cache.release(1);
  EXPECT_EQ(cache.usage().pages_free, 2);
  EXPECT_EQ(cache.prefill(3, random_step(rng, 5)), CacheStatus::ok);
  EXPECT_FALSE(cache.contains(1));
}

TEST_P(PagedKVCacheOnStorage, LengthPastMaxSeqLenIsReported) {
  std::mt19937 rng(5);
  PagedKVCacheConfig config = paged_config(32);
  config.max_seq_len = 6;
  PagedKVCache cache(config, allocator());
  EXPECT_EQ(cache.prefill(1, random_step(rng, 7)), CacheStatus::sequence_full);
  EXPECT_FALSE(cache.contains(1));
  ASSERT_EQ(cache.prefill(1, random_step(rng, 6)), CacheStatus::ok);
  EXPECT_EQ(cache.append(1, random_step(rng, 1)), CacheStatus::sequence_full);
  EXPECT_EQ(cache.length(1), 6);
}

TEST_P(PagedKVCacheOnStorage, BatchedDecodeWritesEachRowToItsRequest) {
  std::mt19937 rng(6);
  PagedKVCache cache(paged_config(16), allocator());
  ASSERT_EQ(cache.prefill(10, random_step(rng, 4)), CacheStatus::ok);
  ASSERT_EQ(cache.prefill(20, random_step(rng, 2)), CacheStatus::ok);
  const RequestId batch[] = {20, 10};
  const auto decode = random_step(rng, 2);
  ASSERT_EQ(cache.append_decode(batch, decode), CacheStatus::ok);
  EXPECT_EQ(cache.length(10), 5);
  EXPECT_EQ(cache.length(20), 3);
  for (int layer = 0; layer < 2; ++layer) {
    const KeyValue a = cache.gather(20, layer), b = cache.gather(10, layer);
    EXPECT_EQ(std::memcmp(a.key.bytes() + 2 * 6 * 8, decode[layer].key.bytes(), 6 * 8), 0);
    EXPECT_EQ(std::memcmp(b.value.bytes() + 4 * 6 * 8, decode[layer].value.bytes() + 6 * 8, 6 * 8),
              0);
  }
  const RequestId twice[] = {10, 10};
  EXPECT_THROW((void)cache.append_decode(twice, decode), InputError);
}

TEST_P(PagedKVCacheOnStorage, PageTableTensorIsPaddedWithTheDummyPage) {
  std::mt19937 rng(7);
  PagedKVCache cache(paged_config(32), allocator());
  ASSERT_EQ(cache.prefill(1, random_step(rng, 9)), CacheStatus::ok);
  ASSERT_EQ(cache.prefill(2, random_step(rng, 1)), CacheStatus::ok);
  const RequestId batch[] = {1, 2};
  const Tensor table = cache.page_table_tensor(batch);
  ASSERT_EQ(table.shape(), Shape({2, 16}));
  const auto t = table.span<std::int64_t>();
  EXPECT_EQ(Pages(t.begin(), t.begin() + 3),
            Pages(cache.page_table(1).begin(), cache.page_table(1).end()));
  EXPECT_EQ(t[16], cache.page_table(2)[0]);
  EXPECT_EQ(t[3], PageManager::kDummyPage);
  EXPECT_EQ(t[17], PageManager::kDummyPage);
}

TEST_P(PagedKVCacheOnStorage, MisuseIsAnInputError) {
  std::mt19937 rng(8);
  PagedKVCache cache(paged_config(16), allocator());
  ASSERT_EQ(cache.prefill(1, random_step(rng, 3)), CacheStatus::ok);
  EXPECT_THROW((void)cache.prefill(1, random_step(rng, 3)), InputError);     // not a new request
  EXPECT_THROW((void)cache.append(2, random_step(rng, 1)), InputError);      // unknown request
  EXPECT_THROW(cache.gather(1, 2), InputError);                              // no layer 2
  EXPECT_THROW(cache.write(1, 0, 2, random_step(rng, 2)[0]), InputError);    // past the length
  EXPECT_THROW((void)cache.append(1, std::vector<KeyValue>{}), InputError);  // no layers
  auto wrong_heads = random_step(rng, 1);
  wrong_heads[1].value = random_tensor({1, 3, 3}, rng);
  EXPECT_THROW((void)cache.append(1, wrong_heads), InputError);
  EXPECT_EQ(cache.length(1), 3);
  cache.release(1);
  EXPECT_THROW(cache.release(1), InputError);
  EXPECT_EQ(cache.usage().pages_in_use, 0);
}

}  // namespace
}  // namespace ssmkit
