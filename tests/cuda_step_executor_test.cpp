// The CUDA kernel replay on a GPU-resident HybridCache: whatever way a sequence reaches a
// position (one prefill chunk, several chunks, or prefill then decode), its states, conv
// windows and KV pages come out the same, because the executor's inputs depend only on
// (channel, position). That checks the slot addressing, the conv-window and state hand-over
// between chunks and the decode path of every layer kind. Skips, visibly, without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "backends.hpp"
#include "ssmkit/compare.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "ssmkit/serving/step_executor.hpp"

namespace ssmkit {
namespace {

HybridCacheConfig every_kind(DType activations) {
  HybridCacheConfig c;
  c.layers = {LayerKind::mamba2, LayerKind::attention, LayerKind::mamba,
              LayerKind::linear_attention, LayerKind::mamba2};
  c.max_requests = 4;
  Mamba2CacheConfig m2;
  m2.num_layers = 2, m2.max_batch = 4, m2.num_heads = 4, m2.head_dim = 64;
  m2.intermediate_size = 256, m2.n_groups = 2, m2.d_state = 32, m2.conv_kernel = 4;
  m2.conv_dtype = activations, m2.ssm_dtype = DType::float32;
  c.mamba2 = m2;
  MambaCacheConfig m1;
  m1.num_layers = 1, m1.max_batch = 4, m1.intermediate_size = 128, m1.d_state = 16;
  m1.conv_kernel = 4, m1.conv_dtype = activations, m1.ssm_dtype = DType::float32;
  c.mamba = m1;
  LinearAttentionCacheConfig la;
  la.num_layers = 1, la.max_batch = 4, la.num_heads = 2, la.key_dim = 32, la.value_dim = 32;
  la.dtype = DType::float32;
  c.linear_attention = la;
  PagedKVCacheConfig kv;
  kv.num_layers = 1, kv.kv_heads = 2, kv.head_dim = 16, kv.page_size = 16;
  kv.max_seq_len = 256, kv.dtype = activations;
  kv.memory = MemoryBudget::fixed(17 * kv.bytes_per_page());
  c.attention = kv;
  return c;
}

class CudaStepExecutorTest : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    try {
      gpu_ = make_backend("cuda");
    } catch (const BackendUnavailable& e) {
      GTEST_SKIP() << "GPU test skipped: " << e.what();
    }
    cache_ = std::make_unique<HybridCache>(every_kind(GetParam()), gpu_->storage_allocator());
    executor_ = gpu_->step_executor(*cache_, ModelSpec{});
  }

  ScheduledTokens work(RequestId id, std::int64_t first, std::int64_t tokens, bool prefill) {
    return {id, cache_->slot_of(id), first, tokens, prefill};
  }
  StepTiming run(std::vector<ScheduledTokens> requests) {
    StepWork step;
    step.step = steps_++;
    step.requests = std::move(requests);
    return executor_->run(step, *cache_);
  }

  // Chunked against one-shot scans sum in another order; bfloat16 inputs take the
  // tensor-core chunk scan, whose chunk states are rounded.
  Tolerance tolerance() const {
    return GetParam() == DType::float32 ? Tolerance{1e-5, 1e-4} : Tolerance{3e-3, 3e-2};
  }
  void expect_close(const Tensor& a, const Tensor& b, const std::string& what) {
    const Comparison c = compare(a, b, tolerance());
    EXPECT_TRUE(c.passed()) << what << ": " << c.mismatches << "/" << c.elements
                            << " out of tolerance, max abs " << c.max_abs_error;
  }
  static double max_abs(const Tensor& t) {
    double m = 0.0;
    for (std::int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(t.value(i)));
    return m;
  }
  // Every state and the KV of every position of two requests agree.
  void expect_same_sequence(RequestId a, RequestId b, const std::string& what) {
    const std::int64_t sa = cache_->slot_of(a), sb = cache_->slot_of(b);
    for (std::int64_t l = 0; l < 2; ++l) {
      const std::string layer = what + ", mamba2 layer " + std::to_string(l);
      expect_close(cache_->mamba2().conv_window(l, sa), cache_->mamba2().conv_window(l, sb),
                   layer + " conv window");
      expect_close(cache_->mamba2().ssm_state(l, sa), cache_->mamba2().ssm_state(l, sb),
                   layer + " ssm state");
    }
    expect_close(cache_->mamba().conv_window(0, sa), cache_->mamba().conv_window(0, sb),
                 what + ", mamba conv window");
    expect_close(cache_->mamba().ssm_state(0, sa), cache_->mamba().ssm_state(0, sb),
                 what + ", mamba ssm state");
    expect_close(cache_->linear_attention().state(0, sa), cache_->linear_attention().state(0, sb),
                 what + ", lightning state");
    const KeyValue ka = cache_->attention().gather(a, 0), kb = cache_->attention().gather(b, 0);
    expect_close(ka.key, kb.key, what + ", keys");
    expect_close(ka.value, kb.value, what + ", values");
  }

  std::unique_ptr<Backend> gpu_;
  std::unique_ptr<HybridCache> cache_;
  std::unique_ptr<StepExecutor> executor_;
  std::int64_t steps_ = 0;
};

TEST_P(CudaStepExecutorTest, ChunkedPrefillAndDecodeReachTheSameStates) {
  ASSERT_EQ(cache_->admit(1, 40).status, CacheStatus::ok);
  ASSERT_EQ(cache_->admit(2, 16).status, CacheStatus::ok);
  EXPECT_NE(executor_->description().find("mamba_chunk_scan_combined"), std::string::npos);

  // Request 1 in one chunk, request 2 in two.
  const StepTiming first = run({work(1, 0, 40, true), work(2, 0, 16, true)});
  EXPECT_GT(first.prefill_s, 0.0);
  EXPECT_DOUBLE_EQ(first.seconds, first.prefill_s + first.decode_s);
  ASSERT_EQ(cache_->extend(2, 24), CacheStatus::ok);
  run({work(2, 16, 24, true)});
  EXPECT_GT(max_abs(cache_->mamba2().ssm_state(0, cache_->slot_of(1))), 0.0);
  EXPECT_GT(max_abs(cache_->mamba().ssm_state(0, cache_->slot_of(1))), 0.0);
  EXPECT_GT(max_abs(cache_->linear_attention().state(0, cache_->slot_of(1))), 0.0);
  EXPECT_GT(max_abs(cache_->mamba2().conv_window(1, cache_->slot_of(2))), 0.0);
  expect_same_sequence(1, 2, "one chunk vs two");

  // One decode token each, on the scattered slots of a batch.
  ASSERT_EQ(cache_->extend(1, 1), CacheStatus::ok);
  ASSERT_EQ(cache_->extend(2, 1), CacheStatus::ok);
  const StepTiming decode = run({work(2, 40, 1, false), work(1, 40, 1, false)});
  EXPECT_GT(decode.decode_s, 0.0);
  expect_same_sequence(1, 2, "after a decode step");

  // The same 41 tokens as one prefill chunk: the decode kernels continue what the prefill
  // kernels would have computed.
  ASSERT_EQ(cache_->admit(3, 41).status, CacheStatus::ok);
  run({work(3, 0, 41, true)});
  expect_same_sequence(1, 3, "prefill + decode vs prefill");
}

INSTANTIATE_TEST_SUITE_P(Activations, CudaStepExecutorTest,
                         ::testing::Values(DType::float32, DType::bfloat16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(CudaStepExecutorInput, HostCachesAndBfloat16StatesAreRefusedNamingTheField) {
  std::unique_ptr<Backend> gpu;
  try {
    gpu = make_backend("cuda");
  } catch (const BackendUnavailable& e) {
    GTEST_SKIP() << "GPU test skipped: " << e.what();
  }
  HybridCache on_host(every_kind(DType::bfloat16));
  try {
    (void)gpu->step_executor(on_host, ModelSpec{});
    ADD_FAILURE() << "a host cache was accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "cache");
    EXPECT_NE(std::string(e.what()).find("host memory"), std::string::npos) << e.what();
  }
  HybridCacheConfig config = every_kind(DType::bfloat16);
  config.mamba2->ssm_dtype = DType::bfloat16;
  HybridCache bf16_states(config, gpu->storage_allocator());
  try {
    (void)gpu->step_executor(bf16_states, ModelSpec{});
    ADD_FAILURE() << "bfloat16 SSM states were accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "ssm_dtype");
  }
}

// Kinds without CUDA kernels yet are an input error naming the kind, not a crash or a
// silently shorter step.
TEST(CudaStepExecutorInput, LayerKindsWithoutKernelsAreRefusedByName) {
  std::unique_ptr<Backend> gpu;
  try {
    gpu = make_backend("cuda");
  } catch (const BackendUnavailable& e) {
    GTEST_SKIP() << "GPU test skipped: " << e.what();
  }
  HybridCacheConfig config = every_kind(DType::bfloat16);
  config.layers.push_back(LayerKind::gated_delta_net);
  DeltaNetCacheConfig d;
  d.num_layers = 1, d.max_batch = 4, d.num_k_heads = 2, d.num_v_heads = 4, d.head_k_dim = 16;
  d.head_v_dim = 16, d.conv_kernel = 4, d.conv_dtype = DType::bfloat16;
  config.gated_delta_net = d;
  HybridCache cache(config, gpu->storage_allocator());
  try {
    (void)gpu->step_executor(cache, ModelSpec{});
    ADD_FAILURE() << "a Gated DeltaNet layer was accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "model");
    EXPECT_NE(std::string(e.what()).find("gated_delta_net"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ssmkit
