// The cache library and the paged KV ops share one semantics: driving PagedKVCache through
// prefills, frees, page reuse and decode batches leaves exactly the pages that
// paged_kv_write produces from the cache's own page tables, and PagedKVCache::gather reads
// what paged_kv_gather reads through page_table_tensor.
#include <gtest/gtest.h>

#include <random>

#include "cpu/cpu_backend.hpp"
#include "ssmkit/cache/paged_kv_cache.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

constexpr std::int64_t kLayers = 2, kHeads = 2, kHeadDim = 8, kPageSize = 4, kPages = 16;

PagedKVCacheConfig config(DType dtype) {
  PagedKVCacheConfig c;
  c.num_layers = kLayers;
  c.kv_heads = kHeads;
  c.head_dim = kHeadDim;
  c.page_size = kPageSize;
  c.max_seq_len = 40;
  c.dtype = dtype;
  c.memory = MemoryBudget::fixed(static_cast<std::size_t>(kPages) * c.bytes_per_page());
  return c;
}

// Replays every cache write through paged_kv_write on a copy of the pool.
class OpsMirror {
 public:
  explicit OpsMirror(DType dtype) : dtype_(dtype) {
    for (std::int64_t layer = 0; layer < kLayers; ++layer) {
      keys_.emplace_back(DType::float64, Shape{kPages, kPageSize, kHeads, kHeadDim});
      values_.emplace_back(DType::float64, Shape{kPages, kPageSize, kHeads, kHeadDim});
    }
  }
  // Row i of each layer's K/V is position positions[i] of requests[i], which the cache
  // already holds. A padding token (slot -1) ends every batch: it must write nothing.
  void write(const PagedKVCache& cache, const std::vector<RequestId>& requests,
             const std::vector<std::int64_t>& positions, std::span<const KeyValue> layers) {
    std::vector<std::int64_t> slots;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const auto table = cache.page_table(requests[i]);
      slots.push_back(table[positions[i] / kPageSize] * kPageSize + positions[i] % kPageSize);
    }
    slots.push_back(-1);
    const auto T = static_cast<std::int64_t>(slots.size());
    for (std::int64_t layer = 0; layer < kLayers; ++layer) {
      PagedKvWriteParams p;
      p.num_tokens = T, p.num_pages = kPages, p.page_size = kPageSize, p.kv_heads = kHeads;
      p.head_dim = kHeadDim, p.input_dtype = dtype_, p.slot_mapping = slots;
      p.key = with_padding_row(layers[layer].key);
      p.value = with_padding_row(layers[layer].value);
      p.key_cache = keys_[layer];
      p.value_cache = values_[layer];
      auto r = cpu_.call(p);
      keys_[layer] = r.key_cache;
      values_[layer] = r.value_cache;
    }
  }
  const Tensor& keys(std::int64_t layer) const { return keys_[layer]; }
  const Tensor& values(std::int64_t layer) const { return values_[layer]; }

 private:
  static Tensor with_padding_row(const Tensor& rows) {
    Tensor out(DType::float64, {rows.dim(0) + 1, kHeads, kHeadDim});
    const Tensor src = rows.to(DType::float64);
    std::copy(src.span<double>().begin(), src.span<double>().end(), out.span<double>().begin());
    for (auto& v : out.span<double>().last(kHeads * kHeadDim)) v = 7.0;  // never a real value
    return out;
  }
  DType dtype_;
  CpuBackend cpu_;
  std::vector<Tensor> keys_, values_;
};

Tensor stored(const PagedKVCache& cache, const std::string& name) {
  for (const auto& [n, tensor] : cache.storage()) {
    if (n == name) return tensor->to_host();
  }
  throw std::logic_error("no storage tensor " + name);
}

class PagedKvCacheAndOps : public ::testing::TestWithParam<DType> {
 protected:
  // Values exact in the cache dtype, so that neither path rounds.
  std::vector<KeyValue> tokens(std::int64_t n) {
    std::vector<KeyValue> layers;
    for (std::int64_t layer = 0; layer < kLayers; ++layer) {
      layers.push_back({test::random_tensor({n, kHeads, kHeadDim}, rng_).to(GetParam()),
                        test::random_tensor({n, kHeads, kHeadDim}, rng_).to(GetParam())});
    }
    return layers;
  }
  std::mt19937 rng_{11};
};

TEST_P(PagedKvCacheAndOps, WritesAndGathersAgree) {
  const DType dtype = GetParam();
  PagedKVCache cache(config(dtype));
  OpsMirror mirror(dtype);
  auto prefill = [&](RequestId id, std::int64_t n) {
    const auto layers = tokens(n);
    ASSERT_EQ(cache.prefill(id, layers), CacheStatus::ok);
    std::vector<RequestId> ids(n, id);
    std::vector<std::int64_t> positions(n);
    for (std::int64_t t = 0; t < n; ++t) positions[t] = t;
    mirror.write(cache, ids, positions, layers);
  };
  prefill(1, 9);   // 3 pages, the last partial
  prefill(2, 4);   // exactly one page
  prefill(3, 6);
  cache.release(2);  // its page goes to the back of the free list
  prefill(4, 13);
  // Decode batches, then a chunk: the 6 pages they take are the last free ones, request
  // 2's freed page among them.
  for (int step = 0; step < 7; ++step) {
    const std::vector<RequestId> batch = {3, 1, 4};
    const auto layers = tokens(3);
    ASSERT_EQ(cache.append_decode(batch, layers), CacheStatus::ok);
    std::vector<std::int64_t> positions;
    for (RequestId id : batch) positions.push_back(cache.length(id) - 1);
    mirror.write(cache, batch, positions, layers);
  }
  // A chunked continuation of one request.
  {
    const std::int64_t start = cache.length(4);
    const auto layers = tokens(5);
    ASSERT_EQ(cache.append(4, layers), CacheStatus::ok);
    std::vector<std::int64_t> positions;
    for (std::int64_t t = 0; t < 5; ++t) positions.push_back(start + t);
    mirror.write(cache, std::vector<RequestId>(5, 4), positions, layers);
  }
  ASSERT_EQ(cache.page_manager().pages_free(), 0);
  ASSERT_TRUE(cache.page_manager().owner_of(4).has_value());  // request 2's page, reused

  const std::vector<RequestId> live = {4, 1, 3};
  const Tensor tables = cache.page_table_tensor(live);
  // The table must be out of order somewhere, or this test would not test paging.
  bool scattered = false;
  for (RequestId id : live) {
    const auto pages = cache.page_table(id);
    for (std::size_t i = 1; i < pages.size(); ++i) scattered |= pages[i] != pages[i - 1] + 1;
  }
  EXPECT_TRUE(scattered);

  CpuBackend cpu;
  for (std::int64_t layer = 0; layer < kLayers; ++layer) {
    SCOPED_TRACE("layer " + std::to_string(layer));
    const Tensor key_pages = stored(cache, "layer_" + std::to_string(layer) + "/key_pages");
    const Tensor value_pages = stored(cache, "layer_" + std::to_string(layer) + "/value_pages");
    EXPECT_TRUE(test::same_bytes(key_pages, mirror.keys(layer).to(dtype)));
    EXPECT_TRUE(test::same_bytes(value_pages, mirror.values(layer).to(dtype)));

    PagedKvGatherParams g;
    g.batch = static_cast<std::int64_t>(live.size());
    g.num_pages = kPages, g.page_size = kPageSize, g.kv_heads = kHeads, g.head_dim = kHeadDim;
    g.max_pages_per_seq = tables.dim(1);
    g.input_dtype = dtype;
    g.key_cache = key_pages.to(DType::float64);
    g.value_cache = value_pages.to(DType::float64);
    for (auto v : tables.span<std::int64_t>()) g.block_tables.push_back(v);
    for (RequestId id : live) g.seq_lens.push_back(cache.length(id));
    g.max_len = g.max_pages_per_seq * kPageSize;
    const auto gathered = cpu.call(g);

    const std::int64_t row = kHeads * kHeadDim;
    for (std::size_t b = 0; b < live.size(); ++b) {
      const KeyValue expected = cache.gather(live[b], layer);
      const std::int64_t len = cache.length(live[b]);
      for (std::int64_t i = 0; i < g.max_len * row; ++i) {
        const std::int64_t at = static_cast<std::int64_t>(b) * g.max_len * row + i;
        const double want_k = i < len * row ? expected.key.value(i) : 0.0;
        const double want_v = i < len * row ? expected.value.value(i) : 0.0;
        ASSERT_EQ(gathered.key.value(at), want_k) << "request " << live[b] << " element " << i;
        ASSERT_EQ(gathered.value.value(at), want_v) << "request " << live[b] << " element " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(CacheDtypes, PagedKvCacheAndOps,
                         ::testing::Values(DType::float32, DType::bfloat16, DType::float16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace ssmkit
