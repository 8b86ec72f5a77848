// Snapshots: every cache round-trips through HDF5 byte for byte (every storage dtype, any
// bit pattern, NaN payloads included) with its bookkeeping; a snapshot whose metadata does
// not match the target is refused naming the field; a bad snapshot changes nothing.
#include "ssmkit/cache/cache_snapshot.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>

#include "ssmkit/cache/hybrid_cache.hpp"
#include "ssmkit/cache/kv_cache.hpp"
#include "ssmkit/error.hpp"
#include "storage_allocators.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

class CacheSnapshotOnStorage : public test::OnEveryAllocator {};
SSMKIT_ON_EVERY_ALLOCATOR(CacheSnapshotOnStorage);

using test::random_tensor;
using test::TempDir;

constexpr DType kDtypes[] = {DType::float32, DType::bfloat16, DType::float16, DType::float64};

// Storage filled with random bytes: every bit pattern the dtype has (NaNs with payloads,
// signalling NaNs, infinities, subnormals, negative zero) must survive. The cache API only
// writes rounded values, so the test writes the bytes directly, wherever they live.
template <class Cache>
void fill_random_bits(Cache& cache, std::mt19937& rng) {
  for (const auto& [name, tensor] : cache.storage()) {
    Tensor bits(tensor->dtype(), tensor->shape());
    for (std::size_t i = 0; i < bits.nbytes(); ++i) bits.bytes()[i] = std::byte(rng() & 0xff);
    const_cast<CacheTensor&>(*tensor).from_host(bits);
  }
}

template <class Cache>
std::vector<std::vector<std::byte>> storage_bytes(const Cache& cache) {
  std::vector<std::vector<std::byte>> all;
  for (const auto& [name, tensor] : cache.storage()) {
    const Tensor host = tensor->to_host();
    all.emplace_back(host.bytes(), host.bytes() + host.nbytes());
  }
  return all;
}

// "" when equal, else where the first difference is (gtest would print every byte).
std::string first_difference(const std::vector<std::vector<std::byte>>& a,
                             const std::vector<std::vector<std::byte>>& b) {
  if (a.size() != b.size()) return "different tensor counts";
  for (std::size_t t = 0; t < a.size(); ++t) {
    if (a[t].size() != b[t].size()) return "tensor " + std::to_string(t) + ": sizes differ";
    for (std::size_t i = 0; i < a[t].size(); ++i) {
      if (a[t][i] != b[t][i]) {
        return "tensor " + std::to_string(t) + " byte " + std::to_string(i) + ": " +
               std::to_string(int(a[t][i])) + " vs " + std::to_string(int(b[t][i]));
      }
    }
  }
  return "";
}

std::string error_field(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.field();
  }
  return "<no InputError>";
}

PagedKVCacheConfig paged_config(DType dtype) {
  PagedKVCacheConfig c;
  c.num_layers = 2, c.kv_heads = 2, c.head_dim = 3, c.page_size = 4, c.max_seq_len = 32;
  c.dtype = dtype;
  c.memory = MemoryBudget::fixed(12 * c.bytes_per_page());
  return c;
}

Mamba2CacheConfig mamba2_config(DType conv, DType ssm) {
  Mamba2CacheConfig c;
  c.num_layers = 2, c.max_batch = 3, c.intermediate_size = 8, c.num_heads = 4, c.head_dim = 2;
  c.n_groups = 2, c.d_state = 3, c.conv_kernel = 4, c.conv_dtype = conv, c.ssm_dtype = ssm;
  return c;
}

HybridCacheConfig hybrid_config(DType dtype) {
  HybridCacheConfig c;
  c.layers = {LayerKind::mamba2, LayerKind::attention,        LayerKind::mamba2,
              LayerKind::mamba,  LayerKind::linear_attention, LayerKind::attention};
  c.max_requests = 3;
  c.attention = paged_config(dtype);
  c.mamba2 = mamba2_config(dtype, DType::float32);
  c.mamba = MambaCacheConfig{1, 3, 6, 3, 4, dtype, dtype};
  c.linear_attention = LinearAttentionCacheConfig{1, 3, 2, 3, 3, dtype};
  return c;
}

TEST_P(CacheSnapshotOnStorage, KVCacheRoundTripIsBitExact) {
  TempDir dir;
  std::mt19937 rng(1);
  for (const DType dtype : kDtypes) {
    KVCache cache(KVCacheConfig{2, 3, 8, 2, 3, dtype}, allocator());
    const std::vector<KeyValue> prompt(
        2, KeyValue{random_tensor({5, 2, 3}, rng), random_tensor({5, 2, 3}, rng)});
    ASSERT_EQ(cache.insert(1, prompt, 2), CacheStatus::ok);
    fill_random_bits(cache, rng);
    save_snapshot(cache, dir / "kv.h5");
    KVCache restored(cache.config(), allocator());
    restore_snapshot(restored, dir / "kv.h5");
    EXPECT_EQ(first_difference(storage_bytes(restored), storage_bytes(cache)), "")
        << dtype_name(dtype);
    EXPECT_EQ(restored.write_index(1), 5);
    EXPECT_EQ(restored.start(1), 2);
  }
}

TEST_P(CacheSnapshotOnStorage, PagedKVCacheRoundTripKeepsPagesAndFreeOrder) {
  TempDir dir;
  std::mt19937 rng(2);
  for (const DType dtype : kDtypes) {
    PagedKVCache cache(paged_config(dtype), allocator());
    ASSERT_EQ(cache.extend(10, 9), CacheStatus::ok);
    ASSERT_EQ(cache.extend(20, 4), CacheStatus::ok);
    ASSERT_EQ(cache.extend(30, 6), CacheStatus::ok);
    cache.release(20);  // the free list is no longer in page order
    fill_random_bits(cache, rng);
    save_snapshot(cache, dir / "paged.h5");
    PagedKVCache restored(cache.config(), allocator());
    restore_snapshot(restored, dir / "paged.h5");
    EXPECT_EQ(first_difference(storage_bytes(restored), storage_bytes(cache)), "")
        << dtype_name(dtype);
    EXPECT_EQ(restored.requests(), cache.requests());
    for (const RequestId r : cache.requests()) {
      EXPECT_EQ(restored.length(r), cache.length(r));
      EXPECT_TRUE(std::ranges::equal(restored.page_table(r), cache.page_table(r)));
    }
    EXPECT_EQ(restored.page_manager().free_pages(), cache.page_manager().free_pages());
    // Both continue identically.
    ASSERT_EQ(cache.extend(40, 7), CacheStatus::ok);
    ASSERT_EQ(restored.extend(40, 7), CacheStatus::ok);
    EXPECT_TRUE(std::ranges::equal(restored.page_table(40), cache.page_table(40)));
  }
}

TEST_P(CacheSnapshotOnStorage, StateCachesRoundTripIsBitExact) {
  TempDir dir;
  std::mt19937 rng(3);
  for (const DType dtype : kDtypes) {
    Mamba2StateCache mamba2(mamba2_config(dtype, dtype == DType::float64 ? DType::float16 : dtype),
                            allocator());
    const std::int64_t slots[] = {0, 2};
    mamba2.advance_positions(slots, 7);
    mamba2.advance_seqlen_offset(7);
    fill_random_bits(mamba2, rng);
    save_snapshot(mamba2, dir / "m2.h5");
    Mamba2StateCache restored2(mamba2.config(), allocator());
    restore_snapshot(restored2, dir / "m2.h5");
    EXPECT_EQ(first_difference(storage_bytes(restored2), storage_bytes(mamba2)), "")
        << dtype_name(dtype);
    EXPECT_EQ(restored2.position(2), 7);
    EXPECT_EQ(restored2.position(1), 0);
    EXPECT_EQ(restored2.seqlen_offset(), 7);

    MambaStateCache mamba(MambaCacheConfig{2, 2, 5, 3, 4, dtype, DType::float32}, allocator());
    fill_random_bits(mamba, rng);
    save_snapshot(mamba, dir / "m1.h5");
    MambaStateCache restored1(mamba.config(), allocator());
    restore_snapshot(restored1, dir / "m1.h5");
    EXPECT_EQ(first_difference(storage_bytes(restored1), storage_bytes(mamba)), "")
        << dtype_name(dtype);

    LinearAttentionStateCache linear(LinearAttentionCacheConfig{2, 2, 2, 3, 4, dtype}, allocator());
    linear.advance_positions(std::vector<std::int64_t>{1}, 4);
    fill_random_bits(linear, rng);
    save_snapshot(linear, dir / "la.h5");
    LinearAttentionStateCache restored_linear(linear.config(), allocator());
    restore_snapshot(restored_linear, dir / "la.h5");
    EXPECT_EQ(first_difference(storage_bytes(restored_linear), storage_bytes(linear)), "")
        << dtype_name(dtype);
    EXPECT_EQ(restored_linear.position(1), 4);
  }
}

TEST_P(CacheSnapshotOnStorage, HybridRoundTripRestoresEveryPart) {
  TempDir dir;
  std::mt19937 rng(4);
  for (const DType dtype : kDtypes) {
    HybridCache cache(hybrid_config(dtype), allocator());
    ASSERT_EQ(cache.admit(5, 6).status, CacheStatus::ok);
    ASSERT_EQ(cache.admit(6, 3).status, CacheStatus::ok);
    ASSERT_EQ(cache.admit(7, 9).status, CacheStatus::ok);
    cache.release(6);
    ASSERT_EQ(cache.extend(7, 2), CacheStatus::ok);
    fill_random_bits(cache, rng);
    save_snapshot(cache, dir / "hybrid.h5");
    HybridCache restored(cache.config(), allocator());
    restore_snapshot(restored, dir / "hybrid.h5");
    EXPECT_EQ(first_difference(storage_bytes(restored), storage_bytes(cache)), "")
        << dtype_name(dtype);
    EXPECT_EQ(restored.slots().assignments(), cache.slots().assignments());
    EXPECT_EQ(restored.length(7), 11);
    EXPECT_FALSE(restored.contains(6));
    EXPECT_EQ(restored.mamba2().position(restored.slot_of(7)), 11);
    const auto a = cache.admit(8, 4), b = restored.admit(8, 4);
    EXPECT_EQ(a.slot, b.slot);
    EXPECT_TRUE(
        std::ranges::equal(cache.attention().page_table(8), restored.attention().page_table(8)));
  }
}

// Restores a snapshot of `saved` into a cache built from `target`, expecting a refusal
// that names `field` and leaves the target as it was.
template <class Cache, class Config>
void expect_refused(const Config& saved, const Config& target, const std::string& field) {
  TempDir dir;
  Cache source(saved);
  save_snapshot(source, dir / "s.h5");
  Cache cache(target);
  std::mt19937 rng(9);
  fill_random_bits(cache, rng);
  const auto before = storage_bytes(cache);
  EXPECT_EQ(error_field([&] { restore_snapshot(cache, dir / "s.h5"); }), field);
  EXPECT_EQ(first_difference(storage_bytes(cache), before), "");
}

TEST_P(CacheSnapshotOnStorage, MismatchedMetadataIsRefusedNamingTheField) {
  const Mamba2CacheConfig m2 = mamba2_config(DType::bfloat16, DType::float32);
  auto changed = [&](auto change) {
    Mamba2CacheConfig c = m2;
    change(c);
    return c;
  };
  using M2 = Mamba2StateCache;
  expect_refused<M2>(m2, changed([](auto& c) { c.num_layers = 3; }), "num_layers");
  expect_refused<M2>(m2, changed([](auto& c) { c.max_batch = 4; }), "max_batch");
  expect_refused<M2>(m2, changed([](auto& c) { c.intermediate_size = 16, c.head_dim = 4; }),
                     "intermediate_size");
  expect_refused<M2>(m2, changed([](auto& c) { c.num_heads = 2, c.head_dim = 4, c.n_groups = 1; }),
                     "num_heads");
  expect_refused<M2>(m2, changed([](auto& c) { c.n_groups = 1; }), "n_groups");
  expect_refused<M2>(m2, changed([](auto& c) { c.d_state = 4; }), "d_state");
  expect_refused<M2>(m2, changed([](auto& c) { c.conv_kernel = 3; }), "conv_kernel");
  expect_refused<M2>(m2, changed([](auto& c) { c.conv_dtype = DType::float16; }), "conv_dtype");
  expect_refused<M2>(m2, changed([](auto& c) { c.ssm_dtype = DType::bfloat16; }), "ssm_dtype");

  const MambaCacheConfig m1{2, 2, 5, 3, 4, DType::float32, DType::float32};
  MambaCacheConfig m1_other = m1;
  m1_other.d_state = 5;
  expect_refused<MambaStateCache>(m1, m1_other, "d_state");
  m1_other = m1;
  m1_other.intermediate_size = 6;
  expect_refused<MambaStateCache>(m1, m1_other, "intermediate_size");

  const KVCacheConfig kv{2, 3, 8, 2, 3, DType::float32};
  expect_refused<KVCache>(kv, KVCacheConfig{2, 3, 9, 2, 3, DType::float32}, "max_len");
  expect_refused<KVCache>(kv, KVCacheConfig{2, 3, 8, 1, 3, DType::float32}, "kv_heads");
  expect_refused<KVCache>(kv, KVCacheConfig{2, 3, 8, 2, 3, DType::float16}, "dtype");

  const PagedKVCacheConfig paged = paged_config(DType::float32);
  PagedKVCacheConfig paged_other = paged;
  paged_other.page_size = 8;
  expect_refused<PagedKVCache>(paged, paged_other, "page_size");
  paged_other = paged;
  paged_other.memory = MemoryBudget::fixed(13 * paged.bytes_per_page());
  expect_refused<PagedKVCache>(paged, paged_other, "num_pages");
  paged_other = paged;
  paged_other.max_seq_len = 16;
  expect_refused<PagedKVCache>(paged, paged_other, "max_seq_len");

  const LinearAttentionCacheConfig la{2, 2, 2, 3, 4, DType::float32};
  expect_refused<LinearAttentionStateCache>(
      la, LinearAttentionCacheConfig{2, 2, 2, 4, 4, DType::float32}, "key_dim");

  const HybridCacheConfig hybrid = hybrid_config(DType::float32);
  HybridCacheConfig hybrid_other = hybrid;
  hybrid_other.max_requests = 4;
  hybrid_other.mamba2->max_batch = hybrid_other.mamba->max_batch = 4;
  hybrid_other.linear_attention->max_batch = 4;
  expect_refused<HybridCache>(hybrid, hybrid_other, "max_requests");
  hybrid_other = hybrid;
  std::swap(hybrid_other.layers[0], hybrid_other.layers[1]);
  expect_refused<HybridCache>(hybrid, hybrid_other, "layers");
  hybrid_other = hybrid;
  hybrid_other.mamba2->d_state = 5;
  expect_refused<HybridCache>(hybrid, hybrid_other, "mamba2/d_state");
}

TEST_P(CacheSnapshotOnStorage, ASnapshotOfAnotherKindIsRefused) {
  TempDir dir;
  MambaStateCache mamba(MambaCacheConfig{2, 3, 8, 3, 4, DType::float32, DType::float32},
                        allocator());
  save_snapshot(mamba, dir / "m1.h5");
  Mamba2StateCache mamba2(mamba2_config(DType::float32, DType::float32), allocator());
  EXPECT_EQ(error_field([&] { restore_snapshot(mamba2, dir / "m1.h5"); }), "cache_kind");
  test::write_golden(dir / "golden.h5", {"causal_conv1d", {}, {}, {}});
  EXPECT_EQ(error_field([&] { restore_snapshot(mamba2, dir / "golden.h5"); }), "format");
  EXPECT_THROW(restore_snapshot(mamba2, dir / "missing.h5"), InputError);
}

// A snapshot that breaks off half way (here: the second layer's datasets are missing)
// fails naming the dataset, and the target keeps every byte it had.
TEST_P(CacheSnapshotOnStorage, IncompleteSnapshotChangesNothing) {
  TempDir dir;
  std::mt19937 rng(5);
  const Mamba2CacheConfig config = mamba2_config(DType::float32, DType::float32);
  {
    Hdf5Writer file(dir / "partial.h5");
    write_snapshot_header(file);
    SnapshotWriter out(file, "");
    Mamba2StateCache source(config, allocator());
    out.tensor("layer_0/conv_state", *source.storage()[0].second);
    out.tensor("layer_0/ssm_state", *source.storage()[1].second);
    out.metadata(config.metadata());
  }
  Mamba2StateCache cache(config, allocator());
  fill_random_bits(cache, rng);
  const auto before = storage_bytes(cache);
  EXPECT_EQ(error_field([&] { restore_snapshot(cache, dir / "partial.h5"); }),
            "layer_1/conv_state");
  EXPECT_EQ(first_difference(storage_bytes(cache), before), "");
}

TEST_P(CacheSnapshotOnStorage, InconsistentPageTablesAreRefused) {
  TempDir dir;
  const PagedKVCacheConfig config = paged_config(DType::float32);
  PagedKVCache source(config, allocator());
  auto write = [&](std::vector<std::int64_t> tables, std::vector<std::int64_t> free_pages) {
    Hdf5Writer file(dir / "paged.h5");
    write_snapshot_header(file);
    SnapshotWriter out(file, "");
    for (const auto& [name, tensor] : source.storage()) out.tensor(name, *tensor);
    out.integers("requests", std::vector<std::int64_t>{1, 2});
    out.integers("lengths", std::vector<std::int64_t>{4, 4});
    out.integers("page_table_offsets", std::vector<std::int64_t>{0, 1, 2});
    out.integers("page_tables", tables);
    out.integers("free_pages", free_pages);
    out.metadata(config.metadata());
  };
  PagedKVCache cache(config, allocator());
  write({3, 3}, {1, 2, 4, 5, 6, 7, 8, 9, 10, 11});  // page 3 owned twice
  EXPECT_EQ(error_field([&] { restore_snapshot(cache, dir / "paged.h5"); }), "page_tables");
  write({3, 0}, {1, 2, 4, 5, 6, 7, 8, 9, 10, 11});  // the dummy page in a table
  EXPECT_EQ(error_field([&] { restore_snapshot(cache, dir / "paged.h5"); }), "page_tables");
  write({3, 4}, {1, 2, 5, 6, 7, 8, 9, 10});  // page 11 neither free nor owned
  EXPECT_EQ(error_field([&] { restore_snapshot(cache, dir / "paged.h5"); }), "page 11");
  write({3, 4}, {1, 2, 4, 5, 6, 7, 8, 9, 10, 11});  // page 4 both
  EXPECT_EQ(error_field([&] { restore_snapshot(cache, dir / "paged.h5"); }), "free page 4");
  write({3, 4}, {1, 2, 5, 6, 7, 8, 9, 10, 11});
  restore_snapshot(cache, dir / "paged.h5");
  EXPECT_EQ(cache.usage().pages_in_use, 2);
}

}  // namespace
}  // namespace ssmkit
