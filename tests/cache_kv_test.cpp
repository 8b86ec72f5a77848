// KVCache (contiguous): insert a prefilled sequence, append decode tokens, reset a slot;
// a full slot is reported and left as it was.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "ssmkit/cache/kv_cache.hpp"
#include "ssmkit/error.hpp"
#include "storage_allocators.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

class KVCacheOnStorage : public test::OnEveryAllocator {};
SSMKIT_ON_EVERY_ALLOCATOR(KVCacheOnStorage);

using test::same_bytes;

using test::random_tensor;

KVCacheConfig config(DType dtype = DType::float64) { return {3, 4, 10, 2, 5, dtype}; }

std::vector<KeyValue> random_step(std::mt19937& rng, std::int64_t tokens, std::int64_t rows = 0) {
  std::vector<KeyValue> layers;
  const std::int64_t n = rows ? rows : tokens;
  for (int layer = 0; layer < 3; ++layer) {
    layers.push_back({random_tensor({n, 2, 5}, rng), random_tensor({n, 2, 5}, rng)});
  }
  return layers;
}

// Rows [first, first + n) of a (tokens, 2, 5) tensor.
Tensor rows_of(const Tensor& t, std::int64_t first, std::int64_t n) {
  Tensor out(t.dtype(), {n, t.dim(1), t.dim(2)});
  const std::size_t row = static_cast<std::size_t>(t.dim(1) * t.dim(2)) * dtype_size(t.dtype());
  std::memcpy(out.bytes(), t.bytes() + first * row, n * row);
  return out;
}

TEST_P(KVCacheOnStorage, InsertThenAppendKeepsEveryToken) {
  std::mt19937 rng(1);
  KVCache cache(config(), allocator());
  const auto prompt = random_step(rng, 4);
  ASSERT_EQ(cache.insert(2, prompt, 1), CacheStatus::ok);
  EXPECT_EQ(cache.write_index(2), 4);
  EXPECT_EQ(cache.start(2), 1);
  const auto more = random_step(rng, 3);
  ASSERT_EQ(cache.append(2, more), CacheStatus::ok);
  EXPECT_EQ(cache.write_index(2), 7);
  for (int layer = 0; layer < 3; ++layer) {
    const KeyValue kv = cache.read(2, layer);
    ASSERT_EQ(kv.key.shape(), Shape({7, 2, 5}));
    EXPECT_TRUE(same_bytes(rows_of(kv.key, 0, 4), prompt[layer].key));
    EXPECT_TRUE(same_bytes(rows_of(kv.value, 4, 3), more[layer].value));
  }
  EXPECT_EQ(cache.write_index(0), 0);
  EXPECT_EQ(cache.read(0, 0).key.numel(), 0);
}

TEST_P(KVCacheOnStorage, InsertReplacesTheSlotsContent) {
  std::mt19937 rng(2);
  KVCache cache(config(), allocator());
  ASSERT_EQ(cache.insert(1, random_step(rng, 6)), CacheStatus::ok);
  const auto second = random_step(rng, 2);
  ASSERT_EQ(cache.insert(1, second), CacheStatus::ok);
  EXPECT_EQ(cache.write_index(1), 2);
  // Nothing of the first sequence remains in the slot's storage.
  const Tensor keys = cache.key_storage(0).to_host();
  const std::size_t slot_bytes = 10 * 2 * 5 * 8;
  for (std::size_t i = 2 * 2 * 5 * 8; i < slot_bytes; ++i) {
    ASSERT_EQ(keys.bytes()[slot_bytes + i], std::byte{0});
  }
}

TEST_P(KVCacheOnStorage, BatchedDecodeSkipsPaddingRows) {
  std::mt19937 rng(3);
  KVCache cache(config(), allocator());
  ASSERT_EQ(cache.insert(0, random_step(rng, 2)), CacheStatus::ok);
  ASSERT_EQ(cache.insert(3, random_step(rng, 5)), CacheStatus::ok);
  const std::int64_t slots[] = {3, kPadSlot, 0};
  const auto decode = random_step(rng, 1, 3);
  ASSERT_EQ(cache.append_decode(slots, decode), CacheStatus::ok);
  EXPECT_EQ(cache.write_index(3), 6);
  EXPECT_EQ(cache.write_index(0), 3);
  EXPECT_EQ(cache.write_index(1), 0);
  EXPECT_TRUE(same_bytes(rows_of(cache.read(3, 2).key, 5, 1), rows_of(decode[2].key, 0, 1)));
  EXPECT_TRUE(same_bytes(rows_of(cache.read(0, 1).value, 2, 1), rows_of(decode[1].value, 2, 1)));
}

TEST_P(KVCacheOnStorage, FullSlotIsReportedAndUnchanged) {
  std::mt19937 rng(4);
  KVCache cache(config(), allocator());
  EXPECT_EQ(cache.insert(0, random_step(rng, 11)), CacheStatus::sequence_full);
  EXPECT_EQ(cache.write_index(0), 0);
  ASSERT_EQ(cache.insert(0, random_step(rng, 9)), CacheStatus::ok);
  const KeyValue before = cache.read(0, 0);
  EXPECT_EQ(cache.append(0, random_step(rng, 2)), CacheStatus::sequence_full);
  ASSERT_EQ(cache.append(0, random_step(rng, 1)), CacheStatus::ok);
  const std::int64_t slots[] = {0, 1};
  EXPECT_EQ(cache.append_decode(slots, random_step(rng, 1, 2)), CacheStatus::sequence_full);
  EXPECT_EQ(cache.write_index(0), 10);
  EXPECT_EQ(cache.write_index(1), 0);  // all rows or none
  EXPECT_TRUE(same_bytes(rows_of(cache.read(0, 0).key, 0, 9), before.key));
}

TEST_P(KVCacheOnStorage, ResetZerosTheSlot) {
  std::mt19937 rng(5);
  KVCache cache(config(), allocator());
  ASSERT_EQ(cache.insert(1, random_step(rng, 4), 2), CacheStatus::ok);
  ASSERT_EQ(cache.insert(2, random_step(rng, 4)), CacheStatus::ok);
  const KeyValue other = cache.read(2, 0);
  cache.reset(1);
  EXPECT_EQ(cache.write_index(1), 0);
  EXPECT_EQ(cache.start(1), 0);
  for (const auto& [name, tensor] : cache.storage()) {
    const Tensor host = tensor->to_host();
    const std::size_t slot_bytes = host.nbytes() / 4;
    for (std::size_t i = 0; i < slot_bytes; ++i)
      ASSERT_EQ(host.bytes()[slot_bytes + i], std::byte{0}) << name;
  }
  EXPECT_TRUE(same_bytes(cache.read(2, 0).key, other.key));
}

TEST_P(KVCacheOnStorage, WritesRoundToTheCacheDtype) {
  std::mt19937 rng(6);
  for (const DType dtype : {DType::float32, DType::bfloat16, DType::float16}) {
    KVCache cache(config(dtype), allocator());
    const auto prompt = random_step(rng, 3);
    ASSERT_EQ(cache.insert(0, prompt), CacheStatus::ok);
    EXPECT_TRUE(same_bytes(cache.read(0, 2).key, prompt[2].key.to(dtype))) << dtype_name(dtype);
  }
}

TEST_P(KVCacheOnStorage, MisuseIsAnInputError) {
  std::mt19937 rng(7);
  KVCache cache(config(), allocator());
  EXPECT_THROW((void)cache.insert(4, random_step(rng, 1)), InputError);
  EXPECT_THROW((void)cache.insert(0, random_step(rng, 2), 3), InputError);  // start past the end
  auto two_layers = random_step(rng, 1);
  two_layers.pop_back();
  EXPECT_THROW((void)cache.append(0, two_layers), InputError);
  const std::int64_t twice[] = {1, 1};
  EXPECT_THROW((void)cache.append_decode(twice, random_step(rng, 1, 2)), InputError);
  EXPECT_THROW(cache.read(0, 3), InputError);
}

}  // namespace
}  // namespace ssmkit
