// Mamba1 / Mamba2 / lightning-attention state caches and the state slot pool: shapes from
// the config, HF's conv window (last W inputs, newest last), gathers and scatters through
// slot ids with padding, rounding to the storage dtype, resets.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "cpu/cpu_backend.hpp"
#include "ssmkit/cache/linear_attention_state_cache.hpp"
#include "ssmkit/cache/mamba_state_cache.hpp"
#include "ssmkit/cache/state_slot_pool.hpp"
#include "ssmkit/error.hpp"
#include "storage_allocators.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

class Mamba2StateCacheOnStorage : public test::OnEveryAllocator {};
SSMKIT_ON_EVERY_ALLOCATOR(Mamba2StateCacheOnStorage);

class MambaStateCacheOnStorage : public test::OnEveryAllocator {};
SSMKIT_ON_EVERY_ALLOCATOR(MambaStateCacheOnStorage);

class LinearAttentionStateCacheOnStorage : public test::OnEveryAllocator {};
SSMKIT_ON_EVERY_ALLOCATOR(LinearAttentionStateCacheOnStorage);

using test::same_bytes;

using test::random_tensor;

bool all_zero(const Tensor& t) {
  for (std::size_t i = 0; i < t.nbytes(); ++i) {
    if (t.bytes()[i] != std::byte{0}) return false;
  }
  return true;
}

std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  for (std::int64_t i = 0; i < t.numel(); ++i) v.push_back(t.value(i));
  return v;
}

MambaCacheConfig mamba_config(DType conv = DType::float64, DType ssm = DType::float64) {
  return {2, 3, 2, 3, 4, conv, ssm};  // layers, batch, intermediate, d_state, conv_kernel
}

Mamba2CacheConfig mamba2_config(DType conv = DType::float64, DType ssm = DType::float64) {
  Mamba2CacheConfig c;
  c.num_layers = 2, c.max_batch = 4, c.intermediate_size = 8, c.num_heads = 4, c.head_dim = 2;
  c.n_groups = 2, c.d_state = 3, c.conv_kernel = 4, c.conv_dtype = conv, c.ssm_dtype = ssm;
  return c;
}

TEST_P(Mamba2StateCacheOnStorage, ShapesFollowTheConfig) {
  Mamba2StateCache cache(mamba2_config(DType::bfloat16, DType::float32), allocator());
  EXPECT_EQ(cache.conv_channels(), 8 + 2 * 2 * 3);
  EXPECT_EQ(cache.conv_window(1, 3).shape(), Shape({20, 4}));
  EXPECT_EQ(cache.conv_window(1, 3).dtype(), DType::bfloat16);
  EXPECT_EQ(cache.ssm_state(0, 0).shape(), Shape({4, 2, 3}));
  EXPECT_EQ(cache.ssm_state(0, 0).dtype(), DType::float32);
  const auto storage = cache.storage();
  ASSERT_EQ(storage.size(), 4u);
  EXPECT_EQ(storage[0].first, "layer_0/conv_state");
  EXPECT_EQ(storage[0].second->shape(), Shape({4, 20, 4}));
  EXPECT_EQ(storage[3].first, "layer_1/ssm_state");
  EXPECT_EQ(storage[3].second->shape(), Shape({4, 4, 2, 3}));
  MambaStateCache mamba(mamba_config(), allocator());
  EXPECT_EQ(mamba.conv_window(0, 2).shape(), Shape({2, 4}));
  EXPECT_EQ(mamba.ssm_state(1, 2).shape(), Shape({2, 3}));
}

TEST_P(MambaStateCacheOnStorage, ConvWindowShiftsLeftWithNewestLast) {
  MambaStateCache cache(mamba_config(), allocator());
  const std::int64_t slot[] = {1};
  auto feed = [&](std::vector<double> column_values) {
    const auto n = static_cast<std::int64_t>(column_values.size());
    std::vector<double> both = column_values;  // channel 1 gets the negated inputs
    for (const double v : column_values) both.push_back(-v);
    cache.update_conv_windows(0, slot, Tensor::from_vector<double>({1, 2, n}, both));
  };
  feed({1, 2});  // a prompt shorter than the window: left-padded with zeros
  EXPECT_EQ(values(cache.conv_window(0, 1)), std::vector<double>({0, 0, 1, 2, 0, 0, -1, -2}));
  feed({3});
  EXPECT_EQ(values(cache.conv_window(0, 1)), std::vector<double>({0, 1, 2, 3, 0, -1, -2, -3}));
  feed({4, 5, 6});
  EXPECT_EQ(values(cache.conv_window(0, 1)), std::vector<double>({3, 4, 5, 6, -3, -4, -5, -6}));
  feed({7, 8, 9, 10, 11});  // longer than the window: only the last W stay
  EXPECT_EQ(values(cache.conv_window(0, 1)), std::vector<double>({8, 9, 10, 11, -8, -9, -10, -11}));
  EXPECT_EQ(values(cache.conv_initial_states(0, slot)),
            std::vector<double>({9, 10, 11, -9, -10, -11}));
  EXPECT_TRUE(all_zero(cache.conv_window(1, 1)));  // other layer
  EXPECT_TRUE(all_zero(cache.conv_window(0, 0)));  // other slot
}

// The window the cache builds from a prompt is causal_conv1d's conv_state (HF's layout),
// for prompts shorter and longer than the kernel, and after a second chunk.
TEST_P(Mamba2StateCacheOnStorage, ConvWindowEqualsCausalConv1dConvState) {
  std::mt19937 rng(1);
  CpuBackend cpu;
  for (const std::int64_t L : {2, 4, 9}) {
    Mamba2StateCache cache(mamba2_config(), allocator());
    const std::int64_t C = cache.conv_channels(), W = 4;
    const std::int64_t slots[] = {2, 0};
    CausalConv1dParams p;
    p.batch = 2, p.dim = C, p.seqlen = L, p.width = W;
    p.x = random_tensor({2, C, L}, rng);
    p.weight = random_tensor({C, W}, rng);
    cache.update_conv_windows(1, slots, p.x);
    EXPECT_TRUE(same_bytes(cache.gather_conv_windows(1, slots), cpu.call(p).conv_state));
    // A second chunk continues from the cached window.
    p.initial_states = cache.conv_initial_states(1, slots);
    p.x = random_tensor({2, C, 3}, rng);
    p.seqlen = 3;
    cache.update_conv_windows(1, slots, p.x);
    EXPECT_TRUE(same_bytes(cache.gather_conv_windows(1, slots), cpu.call(p).conv_state));
  }
}

TEST_P(Mamba2StateCacheOnStorage, GatherAndScatterGoThroughSlotIdsWithPadding) {
  std::mt19937 rng(2);
  Mamba2StateCache cache(mamba2_config(), allocator());
  const std::int64_t slots[] = {3, kPadSlot, 1};
  const Tensor states = random_tensor({3, 4, 2, 3}, rng);
  cache.scatter_ssm_states(0, slots, states);
  EXPECT_TRUE(all_zero(cache.ssm_state(0, 0)));
  EXPECT_TRUE(all_zero(cache.ssm_state(0, 2)));
  EXPECT_TRUE(all_zero(cache.ssm_state(1, 3)));
  const Tensor back = cache.gather_ssm_states(0, slots);
  for (std::int64_t i = 0; i < 24; ++i) {
    EXPECT_EQ(back.value(i), states.value(i));
    EXPECT_EQ(back.value(24 + i), 0.0);  // the padding row reads as zeros
    EXPECT_EQ(back.value(48 + i), states.value(48 + i));
  }
  const std::int64_t twice[] = {1, 1};
  EXPECT_THROW(cache.scatter_ssm_states(0, twice, random_tensor({2, 4, 2, 3}, rng)), InputError);
  const std::int64_t out_of_range[] = {4};
  EXPECT_THROW(cache.gather_ssm_states(0, out_of_range), InputError);
  EXPECT_THROW(cache.set_ssm_state(0, 0, random_tensor({4, 2, 2}, rng)), InputError);
  EXPECT_THROW(cache.ssm_state(2, 0), InputError);
}

TEST_P(Mamba2StateCacheOnStorage, WritesRoundToTheStorageDtype) {
  std::mt19937 rng(3);
  for (const DType dtype : {DType::float32, DType::bfloat16, DType::float16}) {
    Mamba2StateCache cache(mamba2_config(dtype, dtype), allocator());
    const Tensor state = random_tensor({4, 2, 3}, rng);
    cache.set_ssm_state(1, 2, state);
    EXPECT_TRUE(same_bytes(cache.ssm_state(1, 2), state.to(dtype))) << dtype_name(dtype);
    const Tensor window = random_tensor({20, 4}, rng);
    cache.set_conv_window(0, 1, window);
    EXPECT_TRUE(same_bytes(cache.conv_window(0, 1), window.to(dtype)));
    // Shifting moves stored values without rounding them again.
    const std::int64_t slot[] = {1};
    cache.update_conv_windows(0, slot, random_tensor({1, 20, 1}, rng));
    const Tensor shifted = cache.conv_window(0, 1);
    for (std::int64_t c = 0; c < 20; ++c) {
      ASSERT_EQ(std::memcmp(shifted.bytes() + c * 4 * dtype_size(dtype),
                            window.to(dtype).bytes() + (c * 4 + 1) * dtype_size(dtype),
                            3 * dtype_size(dtype)),
                0);
    }
  }
}

TEST_P(Mamba2StateCacheOnStorage, ResetsAndPositions) {
  std::mt19937 rng(4);
  Mamba2StateCache cache(mamba2_config(), allocator());
  for (std::int64_t slot = 0; slot < 4; ++slot) {
    for (std::int64_t layer = 0; layer < 2; ++layer) {
      cache.set_ssm_state(layer, slot, random_tensor({4, 2, 3}, rng));
      cache.set_conv_window(layer, slot, random_tensor({20, 4}, rng));
    }
  }
  const std::int64_t slots[] = {0, 2, kPadSlot};
  cache.advance_positions(slots, 5);
  cache.advance_seqlen_offset(5);
  EXPECT_EQ(cache.position(0), 5);
  EXPECT_EQ(cache.position(1), 0);
  EXPECT_EQ(cache.position(2), 5);
  const Tensor kept = cache.ssm_state(1, 0);
  cache.reset_slot(2);
  EXPECT_EQ(cache.position(2), 0);
  EXPECT_EQ(cache.position(0), 5);
  EXPECT_EQ(cache.seqlen_offset(), 5);
  for (std::int64_t layer = 0; layer < 2; ++layer) {
    EXPECT_TRUE(all_zero(cache.ssm_state(layer, 2)));
    EXPECT_TRUE(all_zero(cache.conv_window(layer, 2)));
  }
  EXPECT_TRUE(same_bytes(cache.ssm_state(1, 0), kept));
  cache.reset_all();
  EXPECT_EQ(cache.seqlen_offset(), 0);
  EXPECT_EQ(cache.position(0), 0);
  for (const auto& [name, tensor] : cache.storage()) {
    EXPECT_TRUE(all_zero(tensor->to_host())) << name;
  }
}

TEST_P(LinearAttentionStateCacheOnStorage, StatesBySlot) {
  std::mt19937 rng(5);
  LinearAttentionStateCache cache({2, 3, 2, 4, 5, DType::bfloat16}, allocator());
  const std::int64_t slots[] = {kPadSlot, 2};
  const Tensor states = random_tensor({2, 2, 4, 5}, rng);
  cache.scatter_states(1, slots, states);
  const Tensor row = cache.state(1, 2);
  const Tensor expected = states.to(DType::bfloat16);
  EXPECT_EQ(std::memcmp(row.bytes(), expected.bytes() + row.nbytes(), row.nbytes()), 0);
  EXPECT_TRUE(all_zero(cache.state(0, 2)));
  cache.advance_positions(slots, 3);
  EXPECT_EQ(cache.position(2), 3);
  cache.reset_slot(2);
  EXPECT_TRUE(all_zero(cache.state(1, 2)));
  EXPECT_EQ(cache.position(2), 0);
  EXPECT_THROW(cache.state(2, 0), InputError);
}

TEST(StateSlotPool, AdmitReleaseAndPadding) {
  StateSlotPool pool(3);
  EXPECT_EQ(pool.admit(100), 0);
  EXPECT_EQ(pool.admit(200), 1);
  EXPECT_EQ(pool.admit(300), 2);
  EXPECT_EQ(pool.admit(400), std::nullopt);  // full: reported, not thrown
  EXPECT_EQ(pool.slots_free(), 0);
  pool.release(200);
  EXPECT_FALSE(pool.contains(200));
  EXPECT_EQ(pool.admit(400), 1);  // lowest free slot
  const std::optional<RequestId> batch[] = {300, std::nullopt, 400, 100};
  EXPECT_EQ(pool.batch_slots(batch), std::vector<std::int64_t>({2, kPadSlot, 1, 0}));
  EXPECT_THROW((void)pool.admit(100), InputError);  // already holds a slot
  EXPECT_THROW(pool.release(200), InputError);      // released already
  EXPECT_THROW(pool.slot_of(999), InputError);
  EXPECT_EQ(pool.slots_in_use(), 3);
}

}  // namespace
}  // namespace ssmkit
