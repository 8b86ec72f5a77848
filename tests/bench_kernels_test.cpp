// The device-resident CUDA paths that `bench` times: prepared ops with rotating input sets
// and CUDA-graph replay, at shapes that reach every kernel variant (vector and scalar
// loads, every tiled dstate, bfloat16 states, per-head layouts, tails). Each is compared
// with the CPU reference on fresh random inputs. Skips, visibly, without a GPU.
#include <gtest/gtest.h>

#include "backends.hpp"
#include "cpu/cpu_backend.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/bench/check.hpp"
#include "ssmkit/error.hpp"
#ifdef SSMKIT_HAVE_CUDA
#include "cuda/selective_state_update_device.hpp"
#endif

namespace ssmkit {
namespace {

class BenchOnGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      gpu_ = make_backend("cuda");
    } catch (const BackendUnavailable& e) {
      GTEST_SKIP() << "GPU test skipped: " << e.what();
    }
  }
  // Every input set and both timers give the reference's answer on the first call.
  void expect_matches(const bench::BenchCase& c) {
    const OpParams params = c.make_params();
    for (bool graph : {false, true}) {
      auto op = gpu_->prepare(params, PrepareOptions{3, graph});
      ASSERT_EQ(op->copies(), 3);
      for (int k = 0; k < op->copies(); ++k) {
        op->run(k);
        const auto r = bench::check_outputs(params, op->outputs(k), cpu_, 1e12);  // everything
        EXPECT_TRUE(r.passed) << c.name << (graph ? " graph" : "") << " set " << k << ": " << r.message;
      }
      EXPECT_GT(op->time_pass(), 0.0);
    }
  }
  bench::BenchCase make(const std::string& op, std::map<std::string, std::int64_t> dims, DType dtype,
                        std::optional<DType> state = {}) {
    bench::BenchCase c;
    c.op = op, c.dims = std::move(dims), c.dtype = dtype, c.state_dtype = state;
    c.name = op + "/" + std::string(dtype_name(dtype)) + (state ? "/" + std::string(dtype_name(*state)) : "");
    for (const auto& [k, v] : c.dims) c.name += " " + k + "=" + std::to_string(v);
    c.seed = std::hash<std::string>{}(c.name) ^ static_cast<std::uint64_t>(::testing::UnitTest::GetInstance()->random_seed());
    return c;
  }
  void expect_state_update_cases();
  std::unique_ptr<Backend> gpu_;
  CpuBackend cpu_;
};

// Run twice, with one and with four state rows per thread: at these small sizes the launcher
// itself would always pick one (it picks four when the grid fills the GPU).
TEST_F(BenchOnGpu, StateUpdateEveryTiledDstateBothStatesBothLayouts) {
#ifdef SSMKIT_HAVE_CUDA  // without it SetUp has skipped the test
  for (int rows : {1, 4}) {
    SCOPED_TRACE(std::to_string(rows) + " rows per thread");
    const cuda::ForcedStateUpdateRows forced(rows);
    expect_state_update_cases();
  }
#endif
}

void BenchOnGpu::expect_state_update_cases() {
  for (DType state : {DType::float32, DType::bfloat16}) {
    for (std::int64_t n : {16, 32, 64, 128, 256, 24}) {  // 24: the generic kernel
      for (int per_head : {0, 1}) {
        // headdim 72 leaves a partial row tile; 6 heads in 3 groups.
        expect_matches(make("selective_state_update",
                            {{"batch", 5}, {"nheads", per_head ? 6 : 1}, {"headdim", per_head ? 72 : 200},
                             {"dstate", n}, {"ngroups", per_head ? 3 : 1}, {"per_head", per_head}},
                            DType::bfloat16, state));
      }
    }
  }
  expect_matches(make("selective_state_update",
                      {{"batch", 3}, {"nheads", 4}, {"headdim", 64}, {"dstate", 128}, {"ngroups", 1},
                       {"per_head", 1}},
                      DType::float32, DType::float32));
}

TEST_F(BenchOnGpu, SelectiveScanTiledVectorScalarAndGeneric) {
  for (DType dtype : {DType::float32, DType::bfloat16}) {
    for (std::int64_t L : {96, 70, 1}) {  // 70: not a multiple of the vector, scalar loads
      expect_matches(make("selective_scan",
                          {{"batch", 2}, {"dim", 128}, {"seqlen", L}, {"dstate", 16}, {"ngroups", 2}},
                          dtype));
    }
  }
  // dstate 8 and a channel count that is no multiple of the block: the generic kernel.
  expect_matches(make("selective_scan",
                      {{"batch", 2}, {"dim", 40}, {"seqlen", 33}, {"dstate", 8}, {"ngroups", 1}},
                      DType::float32));
}

TEST_F(BenchOnGpu, CausalConvVectorWidthsAndGenericTail) {
  for (DType dtype : {DType::float32, DType::bfloat16, DType::float16}) {
    for (std::int64_t W : {2, 3, 4, 5}) {
      for (std::int64_t L : {64, 37}) {
        expect_matches(make("causal_conv1d", {{"batch", 2}, {"dim", 48}, {"seqlen", L}, {"width", W}}, dtype));
      }
    }
    expect_matches(make("causal_conv1d_update", {{"batch", 3}, {"dim", 48}, {"width", 4}, {"state_len", 3}}, dtype));
  }
}

TEST_F(BenchOnGpu, NormAndLightningThroughPreparedPath) {
  expect_matches(make("gated_rmsnorm", {{"batch", 1}, {"seqlen", 7}, {"rows", 7}, {"dim", 512}, {"group_size", 128}},
                      DType::bfloat16));
  expect_matches(make("lightning_attention",
                      {{"batch", 2}, {"nheads", 3}, {"seqlen", 50}, {"key_dim", 64}, {"value_dim", 32}},
                      DType::float32));
}

TEST_F(BenchOnGpu, ChunkScanAndPagedKvThroughPreparedPath) {
  expect_matches(make("mamba_chunk_scan_combined",
                      {{"batch", 2}, {"seqlen", 100}, {"nheads", 4}, {"headdim", 16}, {"ngroups", 2},
                       {"dstate", 32}, {"chunk_size", 64}},
                      DType::bfloat16));
  const std::map<std::string, std::int64_t> kv = {{"kv_heads", 2}, {"head_dim", 64}, {"page_size", 16}};
  auto with = [&](std::map<std::string, std::int64_t> d) {
    d.insert(kv.begin(), kv.end());
    return d;
  };
  expect_matches(make("paged_kv_write", with({{"tokens", 100}, {"decode", 0}}), DType::bfloat16));
  expect_matches(make("paged_kv_write", with({{"tokens", 7}, {"decode", 1}}), DType::float16));
  expect_matches(make("paged_kv_gather", with({{"batch", 3}, {"seqlen", 40}}), DType::float32));
}

}  // namespace
}  // namespace ssmkit
