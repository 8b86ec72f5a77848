// The CUDA backend against the CPU reference on random inputs at sizes no golden covers
// (large batch, long L, many heads). Skips, visibly, where no GPU backend can run.
#include <gtest/gtest.h>

#include "backends.hpp"
#include "cpu/cpu_backend.hpp"
#include "ssmkit/compare.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/tolerance.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using test::random_tensor;

class CudaVsCpu : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      gpu_ = make_backend("cuda");
    } catch (const BackendUnavailable& e) {
      GTEST_SKIP() << "GPU test skipped: " << e.what();
    }
  }
  void expect_close(const Tensor& gpu, const Tensor& cpu, const char* op, const char* what,
                    DType dtype = DType::float32) {
    const Comparison c = compare(gpu, cpu, default_tolerance(op, dtype));
    EXPECT_TRUE(c.passed()) << op << " " << what << ": " << c.mismatches << "/" << c.elements
                            << " out of tolerance, max abs " << c.max_abs_error << ", worst "
                            << (c.worst_index >= 0 ? multi_index_str(c.shape, c.worst_index) : "");
  }
  std::unique_ptr<Backend> gpu_;
  CpuBackend cpu_;
  std::mt19937 rng_{2024};
};

TEST_F(CudaVsCpu, CausalConv1dLarge) {
  CausalConv1dParams p;
  p.batch = 4, p.dim = 1024, p.seqlen = 2048, p.width = 4, p.silu = true;
  p.x = random_tensor({4, 1024, 2048}, rng_);
  p.weight = random_tensor({1024, 4}, rng_, -0.5, 0.5);
  p.bias = random_tensor({1024}, rng_, -0.1, 0.1);
  p.initial_states = random_tensor({4, 1024, 3}, rng_);
  const auto g = gpu_->causal_conv1d(p), c = cpu_.causal_conv1d(p);
  expect_close(g.out, c.out, "causal_conv1d", "out");
  expect_close(g.conv_state, c.conv_state, "causal_conv1d", "conv_state");
  CausalConv1dUpdateParams u;
  u.batch = 256, u.dim = 1024, u.seqlen = 1, u.width = 4, u.state_len = 4, u.silu = true;
  u.x = random_tensor({256, 1024, 1}, rng_);
  u.conv_state = random_tensor({256, 1024, 4}, rng_);
  u.weight = p.weight;
  u.bias = p.bias;
  const auto gu = gpu_->causal_conv1d_update(u), cu = cpu_.causal_conv1d_update(u);
  expect_close(gu.out, cu.out, "causal_conv1d_update", "out");
  expect_close(gu.conv_state, cu.conv_state, "causal_conv1d_update", "conv_state");
}

TEST_F(CudaVsCpu, SelectiveScanLongSequence) {
  SelectiveScanParams p;
  p.batch = 2, p.dim = 256, p.seqlen = 4096, p.dstate = 16, p.ngroups = 2, p.delta_softplus = true;
  p.u = random_tensor({2, 256, 4096}, rng_);
  p.delta = random_tensor({2, 256, 4096}, rng_, -4.0, -1.0);
  p.A = random_tensor({256, 16}, rng_, -2.0, -0.1);
  p.B = random_tensor({2, 2, 16, 4096}, rng_);
  p.C = random_tensor({2, 2, 16, 4096}, rng_);
  p.D = random_tensor({256}, rng_);
  p.z = random_tensor({2, 256, 4096}, rng_);
  p.delta_bias = random_tensor({256}, rng_, 0.0, 0.5);
  const auto g = gpu_->selective_scan(p), c = cpu_.selective_scan(p);
  expect_close(g.out, c.out, "selective_scan", "out");
  expect_close(g.last_state, c.last_state, "selective_scan", "last_state");
}

TEST_F(CudaVsCpu, StateUpdateManyHeadsScatteredSlots) {
  SelectiveStateUpdateParams p;
  p.batch = 64, p.nheads = 32, p.headdim = 64, p.dstate = 128, p.ngroups = 8;
  p.state_slots = 96, p.dt_softplus = true;
  p.state = random_tensor({96, 32, 64, 128}, rng_);
  p.x = random_tensor({64, 32, 64}, rng_);
  p.dt = random_tensor({64, 32, 64}, rng_, -4.0, -1.0);
  p.A = random_tensor({32, 64, 128}, rng_, -2.0, -0.1);
  p.B = random_tensor({64, 8, 128}, rng_);
  p.C = random_tensor({64, 8, 128}, rng_);
  p.D = random_tensor({32, 64}, rng_);
  p.z = random_tensor({64, 32, 64}, rng_);
  p.dt_bias = random_tensor({32, 64}, rng_, 0.0, 0.5);
  for (std::int64_t b = 0; b < 64; ++b) p.state_batch_indices.push_back(b % 7 == 3 ? -1 : 95 - b);
  const auto g = gpu_->selective_state_update(p), c = cpu_.selective_state_update(p);
  expect_close(g.out, c.out, "selective_state_update", "out");
  expect_close(g.state, c.state, "selective_state_update", "state");
}

TEST_F(CudaVsCpu, ChunkScanManyHeadsVarlen) {
  for (DType dtype : {DType::float32, DType::bfloat16}) {
    ChunkScanParams p;
    p.batch = 1, p.seqlen = 1000, p.nheads = 16, p.headdim = 64, p.ngroups = 4, p.dstate = 128;
    p.chunk_size = 256, p.dt_softplus = true, p.input_dtype = dtype;
    auto act = [&](Shape s) {
      Tensor t = random_tensor(std::move(s), rng_);
      return dtype == DType::float32 ? t : t.to(dtype).to(DType::float64);
    };
    p.x = act({1, 1000, 16, 64});
    p.dt = random_tensor({1, 1000, 16}, rng_, -4.0, -1.0).to(dtype).to(DType::float64);
    p.A = random_tensor({16}, rng_, -8.0, -1.0);
    p.B = act({1, 1000, 4, 128});
    p.C = act({1, 1000, 4, 128});
    p.D = random_tensor({16, 64}, rng_);
    p.z = act({1, 1000, 16, 64});
    p.dt_bias = random_tensor({16}, rng_, 0.0, 0.5);
    p.initial_states = random_tensor({1, 16, 64, 128}, rng_);
    p.cu_seqlens = {0, 300, 301, 700, 1000};
    for (std::size_t s = 0; s + 1 < p.cu_seqlens.size(); ++s) {
      for (auto t = p.cu_seqlens[s]; t < p.cu_seqlens[s + 1]; ++t) {
        p.seq_idx.push_back(static_cast<std::int64_t>(s));
      }
    }
    const auto g = gpu_->mamba_chunk_scan_combined(p), c = cpu_.mamba_chunk_scan_combined(p);
    const char* op = "mamba_chunk_scan_combined";
    expect_close(g.out, c.out, op, "out", dtype);
    expect_close(g.final_states, c.final_states, op, "final_states", dtype);
    expect_close(g.varlen_states, c.varlen_states, op, "varlen_states", dtype);
  }
}

TEST_F(CudaVsCpu, GatedRmsNormWideRows) {
  GatedRmsNormParams p;
  p.rows = 2048, p.dim = 5120, p.group_size = 640, p.eps = 1e-5, p.norm_before_gate = false;
  p.x = random_tensor({2048, 5120}, rng_);
  p.z = random_tensor({2048, 5120}, rng_);
  p.weight = random_tensor({5120}, rng_, 0.5, 1.5);
  expect_close(gpu_->gated_rmsnorm(p).out, cpu_.gated_rmsnorm(p).out, "gated_rmsnorm", "out");
}

TEST_F(CudaVsCpu, LightningAttentionLargeHeads) {
  LightningAttentionParams p;
  p.batch = 2, p.nheads = 8, p.seqlen = 512, p.key_dim = 128, p.value_dim = 128;
  p.q = random_tensor({2, 8, 512, 128}, rng_, -0.1, 0.1);
  p.k = random_tensor({2, 8, 512, 128}, rng_, -0.1, 0.1);
  p.v = random_tensor({2, 8, 512, 128}, rng_);
  p.slope = random_tensor({8}, rng_, 0.01, 0.5);
  p.initial_state = random_tensor({2, 8, 128, 128}, rng_, -0.1, 0.1);
  const auto g = gpu_->lightning_attention(p), c = cpu_.lightning_attention(p);
  expect_close(g.out, c.out, "lightning_attention", "out");
  expect_close(g.final_state, c.final_state, "lightning_attention", "final_state");
}

}  // namespace
}  // namespace ssmkit
