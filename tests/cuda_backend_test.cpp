// The CUDA backend against the CPU reference on random inputs at sizes no golden covers
// (large batch, long L, many heads). Skips, visibly, where no GPU backend can run.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <thread>
#include <tuple>
#include <vector>

#include "backends.hpp"
#include "cpu/cpu_backend.hpp"
#include "ssmkit/compare.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/tolerance.hpp"
#include "test_util.hpp"
#ifdef SSMKIT_HAVE_CUDA
#include "cuda/device_buffer.hpp"
#include "cuda/launch_gate.hpp"
#include "cuda/causal_conv1d_device.hpp"
#include "cuda/paged_kv_device.hpp"
#include "cuda/selective_scan_device.hpp"
#include "cuda/selective_state_update_device.hpp"
#endif

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
  const auto g = gpu_->call(p), c = cpu_.call(p);
  expect_close(g.out, c.out, "causal_conv1d", "out");
  expect_close(g.conv_state, c.conv_state, "causal_conv1d", "conv_state");
  CausalConv1dUpdateParams u;
  u.batch = 256, u.dim = 1024, u.seqlen = 1, u.width = 4, u.state_len = 4, u.silu = true;
  u.x = random_tensor({256, 1024, 1}, rng_);
  u.conv_state = random_tensor({256, 1024, 4}, rng_);
  u.weight = p.weight;
  u.bias = p.bias;
  const auto gu = gpu_->call(u), cu = cpu_.call(u);
  expect_close(gu.out, cu.out, "causal_conv1d_update", "out");
  expect_close(gu.conv_state, cu.conv_state, "causal_conv1d_update", "conv_state");
}

// The decode step's vector kernel for every (width, state_len) it is built for, each dtype,
// with and without bias, and the per-channel kernel for what it does not take (98 channels,
// not a whole 16-byte vector in any dtype; two new tokens).
TEST_F(CudaVsCpu, ConvUpdateEveryLayout) {
  struct Layout {
    std::int64_t width, state_len;
  };
  for (DType dtype : {DType::float32, DType::bfloat16, DType::float16}) {
    for (const Layout lay : {Layout{4, 3}, Layout{4, 4}, Layout{3, 2}, Layout{3, 3}, Layout{2, 1},
                             Layout{2, 2}}) {
      for (const std::int64_t dim : {1024, 98}) {
        for (const std::int64_t seqlen : {1, 2}) {
          SCOPED_TRACE(std::string(dtype_name(dtype)) + " W=" + std::to_string(lay.width) +
                       " S=" + std::to_string(lay.state_len) + " D=" + std::to_string(dim) +
                       " L=" + std::to_string(seqlen));
          CausalConv1dUpdateParams u;
          u.batch = 5, u.dim = dim, u.seqlen = seqlen, u.width = lay.width;
          u.state_len = lay.state_len, u.silu = dim == 1024, u.input_dtype = dtype;
          u.x = random_tensor({5, dim, seqlen}, rng_).to(dtype).to(DType::float64);
          u.conv_state =
              random_tensor({5, dim, lay.state_len}, rng_).to(dtype).to(DType::float64);
          u.weight = random_tensor({dim, lay.width}, rng_, -0.5, 0.5);
          if (seqlen == 1 && lay.state_len < lay.width) {
            u.bias = random_tensor({dim}, rng_, -0.1, 0.1);
          }
          const auto g = gpu_->call(u), c = cpu_.call(u);
          expect_close(g.out, c.out, "causal_conv1d_update", "out", dtype);
          expect_close(g.conv_state, c.conv_state, "causal_conv1d_update", "conv_state", dtype);
        }
      }
    }
  }
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
  const auto g = gpu_->call(p), c = cpu_.call(p);
  expect_close(g.out, c.out, "selective_scan", "out");
  expect_close(g.last_state, c.last_state, "selective_scan", "last_state");
}

// 64 batch rows over 96 state slots, scattered, every seventh row padding; 32 heads in 8
// groups. Mamba1's layout keeps dt, A, D and dt_bias per channel (A per state too), Mamba2's
// per head.
SelectiveStateUpdateParams scattered_slot_update(std::mt19937& rng, std::int64_t headdim,
                                                 bool per_head) {
  SelectiveStateUpdateParams p;
  p.batch = 64, p.nheads = 32, p.headdim = headdim, p.dstate = 128, p.ngroups = 8;
  p.state_slots = 96, p.dt_softplus = true;
  const Shape per_channel = per_head ? Shape{32} : Shape{32, headdim};
  p.state = random_tensor({96, 32, headdim, 128}, rng);
  p.x = random_tensor({64, 32, headdim}, rng);
  p.dt = random_tensor(per_head ? Shape{64, 32} : Shape{64, 32, headdim}, rng, -4.0, -1.0);
  p.A = per_head ? random_tensor({32}, rng, -8.0, -1.0)
                 : random_tensor({32, headdim, 128}, rng, -2.0, -0.1);
  p.B = random_tensor({64, 8, 128}, rng);
  p.C = random_tensor({64, 8, 128}, rng);
  p.D = random_tensor(per_channel, rng);
  p.z = random_tensor({64, 32, headdim}, rng);
  p.dt_bias = random_tensor(per_channel, rng, 0.0, 0.5);
  for (std::int64_t b = 0; b < 64; ++b) p.state_batch_indices.push_back(b % 7 == 3 ? -1 : 95 - b);
  return p;
}

TEST_F(CudaVsCpu, StateUpdateManyHeadsScatteredSlots) {
  const auto p = scattered_slot_update(rng_, 64, /*per_head=*/false);
  const auto g = gpu_->call(p), c = cpu_.call(p);
  expect_close(g.out, c.out, "selective_state_update", "out");
  expect_close(g.state, c.state, "selective_state_update", "state");
}

// Mamba2's layout under each state-update kernel (at this size the choice by grid size is
// the four-row one).
TEST_F(CudaVsCpu, StateUpdatePerHeadScatteredSlotsEveryKernel) {
  const auto p = scattered_slot_update(rng_, 72, /*per_head=*/true);
  const auto c = cpu_.call(p);
#ifdef SSMKIT_HAVE_CUDA
  for (int rows : {1, 4}) {
    SCOPED_TRACE(std::to_string(rows) + " rows per thread");
    const cuda::ForcedStateUpdateRows forced(rows);
    const auto g = gpu_->call(p);
    expect_close(g.out, c.out, "selective_state_update", "out");
    expect_close(g.state, c.state, "selective_state_update", "state");
  }
#endif
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
    const auto g = gpu_->call(p), c = cpu_.call(p);
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
  expect_close(gpu_->call(p).out, cpu_.call(p).out, "gated_rmsnorm", "out");
}

// Every launch shape of the vector kernel (a warp per group, with one or two vectors per
// thread; a block per group with 2, or for groups of over 1024 vectors 4, vectors per thread,
// with and without a partial last pass), each gate placement and dtype, and the any-shape
// kernel for groups that are not whole 16-byte vectors.
TEST_F(CudaVsCpu, GatedRmsNormEveryLayout) {
  enum class Gate { none, first, after };
  for (DType dtype : {DType::float32, DType::bfloat16, DType::float16}) {
    for (std::int64_t group : {36, 64, 384, 1000, 1024, 4608, 5120, 8192}) {
      for (Gate gate : {Gate::none, Gate::first, Gate::after}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " group " + std::to_string(group) +
                     " gate " + std::to_string(static_cast<int>(gate)));
        const std::int64_t rows = 37, dim = 2 * group;
        GatedRmsNormParams p;
        p.rows = rows, p.dim = dim, p.group_size = group, p.eps = 1e-5;
        p.input_dtype = dtype;
        p.norm_before_gate = gate == Gate::after;
        p.x = random_tensor({rows, dim}, rng_).to(dtype).to(DType::float64);
        if (gate != Gate::none) {
          p.z = random_tensor({rows, dim}, rng_, -3.0, 3.0).to(dtype).to(DType::float64);
        }
        p.weight = random_tensor({dim}, rng_, 0.5, 1.5);
        if (group % 3 == 1) p.bias = random_tensor({dim}, rng_, -0.1, 0.1);
        expect_close(gpu_->call(p).out, cpu_.call(p).out, "gated_rmsnorm",
                     "out", dtype);
      }
    }
  }
}

TEST_F(CudaVsCpu, LightningAttentionLargeHeads) {
  LightningAttentionParams p;
  p.batch = 2, p.nheads = 8, p.seqlen = 512, p.key_dim = 128, p.value_dim = 128;
  p.q = random_tensor({2, 8, 512, 128}, rng_, -0.1, 0.1);
  p.k = random_tensor({2, 8, 512, 128}, rng_, -0.1, 0.1);
  p.v = random_tensor({2, 8, 512, 128}, rng_);
  p.slope = random_tensor({8}, rng_, 0.01, 0.5);
  p.initial_state = random_tensor({2, 8, 128, 128}, rng_, -0.1, 0.1);
  const auto g = gpu_->call(p), c = cpu_.call(p);
  expect_close(g.out, c.out, "lightning_attention", "out");
  expect_close(g.final_state, c.final_state, "lightning_attention", "final_state");
}

// Paged KV copies at serving sizes: 4096 tokens of 8 KV heads x 128 into 16-token pages at
// scattered slots (a random permutation, with padding tokens), then a batch gathered through
// shuffled block tables. Copies must be exact in the cache dtype. A second geometry (one
// head of 100) has rows that are not a multiple of 16 bytes.
Tensor in_dtype(Tensor t, DType dtype) { return t.to(dtype).to(DType::float64); }

TEST_F(CudaVsCpu, PagedKvWriteAndGatherLarge) {
  struct Geometry {
    std::int64_t heads, head_dim;
  };
  for (const Geometry geo : {Geometry{8, 128}, Geometry{1, 100}}) {
    for (DType dtype : {DType::float32, DType::bfloat16, DType::float16}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " heads " + std::to_string(geo.heads) +
                   " x " + std::to_string(geo.head_dim));
      const std::int64_t T = 4096, page_size = 16, num_pages = 400, H = geo.heads,
                         D = geo.head_dim;
      PagedKvWriteParams w;
      w.num_tokens = T, w.num_pages = num_pages, w.page_size = page_size;
      w.kv_heads = H, w.head_dim = D, w.input_dtype = dtype;
      w.key = in_dtype(random_tensor({T, H, D}, rng_), dtype);
      w.value = in_dtype(random_tensor({T, H, D}, rng_), dtype);
      w.key_cache = in_dtype(random_tensor({num_pages, page_size, H, D}, rng_), dtype);
      w.value_cache = in_dtype(random_tensor({num_pages, page_size, H, D}, rng_), dtype);
      std::vector<std::int64_t> slots(num_pages * page_size);
      std::iota(slots.begin(), slots.end(), 0);
      std::shuffle(slots.begin(), slots.end(), rng_);
      slots.resize(T);
      for (std::int64_t t = 0; t < T; t += 37) slots[t] = -1;
      w.slot_mapping = slots;
      const auto gw = gpu_->call(w), cw = cpu_.call(w);
      expect_close(gw.key_cache, cw.key_cache, "paged_kv_write", "key_cache", dtype);
      expect_close(gw.value_cache, cw.value_cache, "paged_kv_write", "value_cache", dtype);

      PagedKvGatherParams g;
      g.batch = 24, g.num_pages = num_pages, g.page_size = page_size, g.kv_heads = H;
      g.head_dim = D, g.max_pages_per_seq = 16, g.max_len = 256, g.input_dtype = dtype;
      g.key_cache = cw.key_cache;
      g.value_cache = cw.value_cache;
      std::vector<std::int64_t> pages(num_pages);
      std::iota(pages.begin(), pages.end(), 0);
      std::shuffle(pages.begin(), pages.end(), rng_);
      std::uniform_int_distribution<std::int64_t> length(0, 256);
      for (std::int64_t b = 0; b < g.batch; ++b) {
        g.seq_lens.push_back(b == 0 ? 256 : length(rng_));
        for (std::int64_t i = 0; i < g.max_pages_per_seq; ++i) {
          g.block_tables.push_back(pages[(b * g.max_pages_per_seq + i) % num_pages]);
        }
      }
      const auto gg = gpu_->call(g), cg = cpu_.call(g);
      expect_close(gg.key, cg.key, "paged_kv_gather", "key", dtype);
      expect_close(gg.value, cg.value, "paged_kv_gather", "value", dtype);
    }
  }
}

#ifdef SSMKIT_HAVE_CUDA
// The device entry points on their own, as the benchmarks call them: buffers offset by one
// element (no 16-byte alignment), a non-default stream, and indices the host never checked
// (an out-of-range slot and page) that the kernels must skip rather than follow.
// Columns [from, to) of the last axis of a float64 tensor, as a new tensor.
Tensor last_axis_slice(const Tensor& t, std::int64_t from, std::int64_t to) {
  const std::int64_t n = t.dim(-1), rows = t.numel() / n;
  Shape shape = t.shape();
  shape.back() = to - from;
  Tensor out(DType::float64, shape);
  auto o = out.span<double>();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t k = from; k < to; ++k) o[r * (to - from) + k - from] = t.value(r * n + k);
  }
  return out;
}

// Rows `rows` of the leading axis, as a new float64 tensor.
Tensor leading_rows(const Tensor& t, const std::vector<std::int64_t>& rows) {
  const std::int64_t row = t.numel() / t.dim(0);
  Shape shape = t.shape();
  shape[0] = static_cast<std::int64_t>(rows.size());
  Tensor out(DType::float64, shape);
  auto o = out.span<double>();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::int64_t k = 0; k < row; ++k) o[i * row + k] = t.value(rows[i] * row + k);
  }
  return out;
}

// A decode batch whose conv windows sit in scattered slots of a state cache (the kernel
// replay's layout): each row's window must be read from and written back to its own slot,
// a padding row must leave every slot alone, and untouched slots must keep their bytes.
TEST_F(CudaVsCpu, ConvUpdateLaunchAddressesSlotsThroughStateIndices) {
  using cuda::DeviceTensor;
  const std::int64_t slots = 6, dim = 96, width = 4;
  // Float32 values, so that the untouched slots can be compared bit for bit.
  const Tensor states = in_dtype(random_tensor({slots, dim, width}, rng_), DType::float32);
  const Tensor x = random_tensor({3, dim, 1}, rng_);
  const Tensor weight = random_tensor({dim, width}, rng_, -0.5, 0.5);
  const Tensor bias = random_tensor({dim}, rng_, -0.1, 0.1);
  auto d_states = DeviceTensor::upload(states, DType::float32);
  auto d_x = DeviceTensor::upload(x, DType::float32);
  auto d_w = DeviceTensor::upload(weight, DType::float32);
  auto d_b = DeviceTensor::upload(bias, DType::float32);
  auto d_idx = DeviceTensor::upload(Tensor::from_vector<std::int64_t>({3}, {4, -1, 1}),
                                    DType::int64);
  DeviceTensor d_out(DType::float32, {3, dim, 1});
  cuda::CausalConv1dUpdateDeviceArgs a;
  a.x = d_x.data<float>(), a.conv_state = d_states.data<float>();
  a.new_state = d_states.data<float>(), a.weight = d_w.data<float>(), a.bias = d_b.data<float>();
  a.out = d_out.data<float>(), a.state_indices = d_idx.data<std::int64_t>();
  a.batch = 3, a.dim = dim, a.seqlen = 1, a.width = width, a.state_len = width, a.silu = true;
  cuda::launch_causal_conv1d_update(a, nullptr);
  SSMKIT_CUDA_CHECK(cudaDeviceSynchronize());

  CausalConv1dUpdateParams u;
  u.batch = 2, u.dim = dim, u.seqlen = 1, u.width = width, u.state_len = width, u.silu = true;
  u.x = leading_rows(x, {0, 2});
  u.conv_state = leading_rows(states, {4, 1});
  u.weight = weight, u.bias = bias;
  const auto want = cpu_.call(u);
  const Tensor out = d_out.download(), after = d_states.download();
  expect_close(leading_rows(out, {0, 2}), want.out, "causal_conv1d_update", "out");
  expect_close(leading_rows(after, {4, 1}), want.conv_state, "causal_conv1d_update", "slots");
  EXPECT_TRUE(test::same_bytes(leading_rows(out, {1}), Tensor(DType::float64, {1, dim, 1})))
      << "a padding row's output is zero";
  const std::vector<std::int64_t> untouched = {0, 2, 3, 5};
  EXPECT_TRUE(test::same_bytes(leading_rows(after, untouched), leading_rows(states, untouched)));
}

// Prefill in two chunks, the second starting from the first's state in place (initial_state
// aliasing last_state, as the kernel replay runs it on a cache slot), equals one pass over
// the whole sequence on the CPU: for the tiled kernel (dstate 16) and the generic one.
TEST_F(CudaVsCpu, SelectiveScanLaunchContinuesFromAnInitialStateInPlace) {
  using cuda::DeviceTensor;
  for (const std::int64_t dstate : {16, 8}) {
    SelectiveScanParams p;
    p.batch = 2, p.dim = 128, p.seqlen = 200, p.dstate = dstate, p.delta_softplus = true;
    p.u = random_tensor({2, 128, 200}, rng_);
    p.delta = random_tensor({2, 128, 200}, rng_, -4.0, -1.0);
    p.A = random_tensor({128, dstate}, rng_, -2.0, -0.1);
    p.B = random_tensor({2, 1, dstate, 200}, rng_);
    p.C = random_tensor({2, 1, dstate, 200}, rng_);
    p.D = random_tensor({128}, rng_);
    p.z = random_tensor({2, 128, 200}, rng_);
    p.delta_bias = random_tensor({128}, rng_, 0.0, 0.5);
    const auto want = cpu_.call(p);

    auto A = DeviceTensor::upload(p.A, DType::float32);
    auto D = DeviceTensor::upload(p.D, DType::float32);
    auto bias = DeviceTensor::upload(p.delta_bias, DType::float32);
    DeviceTensor state(DType::float32, {2, 128, dstate});
    std::vector<Tensor> outs;
    for (const auto [from, to] : {std::pair<std::int64_t, std::int64_t>{0, 72}, {72, 200}}) {
      auto u = DeviceTensor::upload(last_axis_slice(p.u, from, to), DType::float32);
      auto delta = DeviceTensor::upload(last_axis_slice(p.delta, from, to), DType::float32);
      auto B = DeviceTensor::upload(last_axis_slice(p.B, from, to), DType::float32);
      auto C = DeviceTensor::upload(last_axis_slice(p.C, from, to), DType::float32);
      auto z = DeviceTensor::upload(last_axis_slice(p.z, from, to), DType::float32);
      DeviceTensor out(DType::float32, {2, 128, to - from});
      cuda::SelectiveScanDeviceArgs a;
      a.u = u.data<float>(), a.delta = delta.data<float>(), a.A = A.data<float>();
      a.B = B.data<float>(), a.C = C.data<float>(), a.D = D.data<float>(), a.z = z.data<float>();
      a.delta_bias = bias.data<float>(), a.out = out.data<float>();
      a.last_state = state.data<float>();
      a.initial_state = from > 0 ? state.data<float>() : nullptr;
      a.batch = 2, a.dim = 128, a.seqlen = to - from, a.dstate = dstate, a.delta_softplus = true;
      cuda::launch_selective_scan(a, nullptr);
      SSMKIT_CUDA_CHECK(cudaDeviceSynchronize());
      outs.push_back(out.download());
    }
    SCOPED_TRACE("dstate " + std::to_string(dstate));
    expect_close(outs[0], last_axis_slice(want.out, 0, 72), "selective_scan", "first chunk");
    expect_close(outs[1], last_axis_slice(want.out, 72, 200), "selective_scan", "second chunk");
    expect_close(state.download(), want.last_state, "selective_scan", "last_state");
  }
}

TEST_F(CudaVsCpu, PagedKvLaunchFunctionsUnalignedAndGuarded) {
  using cuda::DeviceTensor;
  const std::int64_t pages = 4, page_size = 4, row = 8;  // float16 rows of 16 bytes
  const std::int64_t slots = pages * page_size;
  auto host_cache = in_dtype(random_tensor({slots + 1, row}, rng_), DType::float16);
  auto host_rows = in_dtype(random_tensor({4, row}, rng_), DType::float16);
  auto cache = DeviceTensor::upload(host_cache, DType::float16);
  auto values = DeviceTensor::upload(host_cache, DType::float16);
  auto rows = DeviceTensor::upload(host_rows, DType::float16);
  auto slot_mapping = DeviceTensor::upload(
      Tensor::from_vector<std::int64_t>({4}, {3, slots, -1, 9}), DType::int64);
  cudaStream_t stream;
  SSMKIT_CUDA_CHECK(cudaStreamCreate(&stream));
  cuda::PagedKvWriteDeviceArgs w;
  w.key = rows.data<std::uint16_t>() + 1;  // rows start one element in: 2-byte alignment only
  w.value = rows.data<std::uint16_t>() + 1;
  w.key_cache = cache.data<std::uint16_t>() + 1;
  w.value_cache = values.data<std::uint16_t>() + 1;
  w.slot_mapping = slot_mapping.data<std::int64_t>();
  w.num_tokens = 3;  // rows 0..2 of the offset view fit in the 4 uploaded rows
  w.num_slots = slots;
  w.row_elements = row;
  w.dtype = DType::float16;
  cuda::launch_paged_kv_write(w, stream);
  SSMKIT_CUDA_CHECK(cudaStreamSynchronize(stream));
  // Expected: only token 0 lands, at slot 3 of the offset view.
  Tensor expected = host_cache;
  auto e = expected.span<double>();
  const auto r = host_rows.span<double>();
  for (std::int64_t i = 0; i < row; ++i) e[1 + 3 * row + i] = r[1 + i];
  EXPECT_TRUE(test::same_bytes(cache.download(), expected));

  auto tables = DeviceTensor::upload(Tensor::from_vector<std::int32_t>({2, 2}, {1, 7, 2, 0}),
                                     DType::int32);
  auto lens = DeviceTensor::upload(Tensor::from_vector<std::int32_t>({2}, {6, 3}), DType::int32);
  DeviceTensor out(DType::float16, {2 * 6 * row + 1});
  DeviceTensor out_v(DType::float16, {2 * 6 * row + 1});
  // NaN everywhere the gather owns: the zeros past each sequence must be written, not inherited.
  const std::size_t view_bytes = 2 * 6 * row * sizeof(std::uint16_t);
  SSMKIT_CUDA_CHECK(cudaMemset(out.data<std::uint16_t>() + 1, 0xFF, view_bytes));
  SSMKIT_CUDA_CHECK(cudaMemset(out_v.data<std::uint16_t>() + 1, 0xFF, view_bytes));
  cuda::PagedKvGatherDeviceArgs g;
  g.key_cache = cache.data<std::uint16_t>() + 1;
  g.value_cache = values.data<std::uint16_t>() + 1;
  g.key = out.data<std::uint16_t>() + 1;
  g.value = out_v.data<std::uint16_t>() + 1;
  g.block_tables = tables.data<std::int32_t>();
  g.seq_lens = lens.data<std::int32_t>();
  g.batch = 2, g.max_len = 6, g.max_pages_per_seq = 2, g.num_pages = pages;
  g.page_size = page_size, g.row_elements = row, g.dtype = DType::float16;
  cuda::launch_paged_kv_gather(g, stream);
  SSMKIT_CUDA_CHECK(cudaStreamSynchronize(stream));
  SSMKIT_CUDA_CHECK(cudaStreamDestroy(stream));
  // Sequence 0: page 1 rows 0-3, then page 7 (outside the pool): zeros; sequence 1: page 2
  // rows 0-2, then zeros.
  const Tensor cache_now = cache.download();
  Tensor want(DType::float64, {2 * 6 * row + 1});
  auto wv = want.span<double>();
  for (std::int64_t pos = 0; pos < 4; ++pos) {
    for (std::int64_t i = 0; i < row; ++i) {
      wv[1 + pos * row + i] = cache_now.value(1 + (1 * page_size + pos) * row + i);
    }
  }
  for (std::int64_t pos = 0; pos < 3; ++pos) {
    for (std::int64_t i = 0; i < row; ++i) {
      wv[1 + (6 + pos) * row + i] = cache_now.value(1 + (2 * page_size + pos) * row + i);
    }
  }
  EXPECT_TRUE(test::same_bytes(out.download(), want));
}
// A held stream starts its timed events only when the host has enqueued them, so a 50 ms
// pause of the host between them is not measured; unheld, it is (the control that shows the
// test can fail).
TEST_F(CudaVsCpu, LaunchGateKeepsTheHostOutOfTheTimedEvents) {
  cuda::LaunchGate gate;
  if (!gate.active()) GTEST_SKIP() << "launch gate off: " << gate.off_reason();
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  auto timed_ms = [&](bool held) {
    if (held) gate.hold(stream);
    EXPECT_EQ(cudaEventRecord(start, stream), cudaSuccess);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(cudaEventRecord(stop, stream), cudaSuccess);
    if (held) gate.release();
    EXPECT_EQ(cudaEventSynchronize(stop), cudaSuccess);
    float ms = -1.f;
    EXPECT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
    return ms;
  };
  EXPECT_GE(timed_ms(false), 45.f);
  EXPECT_LT(timed_ms(true), 5.f);
  EXPECT_FALSE(gate.timed_out());
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
}

#endif  // SSMKIT_HAVE_CUDA
// ---- mamba_chunk_scan_combined: the chunked tensor-core kernel against the float64 chunked
// reference. Fresh random inputs per case; activations are rounded to the input dtype first so
// that both sides see the same numbers. Besides the elementwise tolerance, the relative L2
// error must stay where products in the input dtype put it (bf16 ~3e-3, fp16 ~4e-4).

struct ChunkScanShape {
  std::int64_t batch, seqlen, nheads, headdim, ngroups, dstate;
  DType dtype;
  bool d = true, z = true, init = true, softplus = true;
  double dt_min = 0.0, dt_max = INFINITY;
  std::vector<std::int64_t> cu_seqlens;  // packs batch 1 into sequences when given
  std::vector<std::int64_t> seq_idx;     // explicit ids (without varlen states) when given
};

ChunkScanParams random_chunk_scan(const ChunkScanShape& s, std::mt19937& rng) {
  ChunkScanParams p;
  p.batch = s.batch, p.seqlen = s.seqlen, p.nheads = s.nheads, p.headdim = s.headdim;
  p.ngroups = s.ngroups, p.dstate = s.dstate, p.input_dtype = s.dtype;
  p.chunk_size = 64;  // the reference's cost grows with it; results do not depend on it
  p.dt_softplus = s.softplus, p.dt_min = s.dt_min, p.dt_max = s.dt_max;
  auto act = [&](Shape shape, double lo = -1.0, double hi = 1.0) {
    return random_tensor(std::move(shape), rng, lo, hi).to(s.dtype).to(DType::float64);
  };
  const auto Bz = s.batch, L = s.seqlen, H = s.nheads, P = s.headdim, G = s.ngroups;
  const auto N = s.dstate;
  p.x = act({Bz, L, H, P});
  // Mamba2-like dt: softplus(raw + bias) from ~1e-3 to ~0.3, A from -16 to -1, so that some
  // heads remember thousands of tokens and the carried state matters.
  p.dt = act({Bz, L, H}, -4.0, -1.0);
  p.dt_bias = random_tensor({H}, rng, -3.0, 0.0);
  p.A = random_tensor({H}, rng, -16.0, -1.0);
  p.B = act({Bz, L, G, N});
  p.C = act({Bz, L, G, N});
  if (s.d) p.D = random_tensor({H, P}, rng);
  if (s.z) p.z = act({Bz, L, H, P}, -3.0, 3.0);
  if (s.init) p.initial_states = random_tensor({Bz, H, P, N}, rng);
  p.cu_seqlens = s.cu_seqlens;
  p.seq_idx = s.seq_idx;
  for (std::size_t q = 0; q + 1 < s.cu_seqlens.size(); ++q) {
    for (auto t = s.cu_seqlens[q]; t < s.cu_seqlens[q + 1]; ++t) {
      p.seq_idx.push_back(static_cast<std::int64_t>(q));
    }
  }
  return p;
}

class CudaVsCpuChunkScan : public CudaVsCpu {
 protected:
  void check(const ChunkScanShape& s) {
    const ChunkScanParams p = random_chunk_scan(s, rng_);
    const auto g = gpu_->call(p), c = cpu_.call(p);
    const char* op = "mamba_chunk_scan_combined";
    const double l2 = s.dtype == DType::bfloat16 ? 1e-2 : s.dtype == DType::float16 ? 2e-3 : 1e-5;
    auto both = [&](const Tensor& gt, const Tensor& ct, const char* what) {
      expect_close(gt, ct, op, what, s.dtype);
      const Comparison cmp = compare(gt, ct, default_tolerance(op, s.dtype));
      EXPECT_LT(cmp.rel_l2_error, l2) << what;
      std::printf("  %-14s rel_l2 %.2e  max_abs %.2e\n", what, cmp.rel_l2_error,
                  cmp.max_abs_error);
    };
    both(g.out, c.out, "out");
    both(g.final_states, c.final_states, "final_states");
    if (!s.cu_seqlens.empty()) both(g.varlen_states, c.varlen_states, "varlen_states");
  }
  void check_large(const ChunkScanParams& p, const std::vector<std::int64_t>& heads);
};

// The heads `heads` of a float64 tensor whose axis `axis` indexes heads.
Tensor take_heads(const Tensor& t, int axis, const std::vector<std::int64_t>& heads) {
  if (!t.defined()) return t;
  Shape shape = t.shape();
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= shape[i];
  for (int i = axis + 1; i < t.rank(); ++i) inner *= shape[i];
  const std::int64_t H = shape[axis];
  shape[axis] = static_cast<std::int64_t>(heads.size());
  Tensor r(DType::float64, shape);
  const auto src = t.span<double>();
  auto dst = r.span<double>();
  std::int64_t k = 0;
  for (std::int64_t o = 0; o < outer; ++o) {
    for (const auto h : heads) {
      for (std::int64_t i = 0; i < inner; ++i) dst[k++] = src[(o * H + h) * inner + i];
    }
  }
  return r;
}

// Sizes where the float64 reference over all heads costs minutes: all heads are checked
// against the GPU's float32 token recurrence (the float32 path, a separate kernel) on the same
// bf16-valued inputs, and the heads `heads` against the float64 reference.
void CudaVsCpuChunkScan::check_large(const ChunkScanParams& p,
                                     const std::vector<std::int64_t>& heads) {
  const char* op = "mamba_chunk_scan_combined";
  const DType dtype = p.input_dtype;
  auto both = [&](const Tensor& gt, const Tensor& rt, const char* what) {
    expect_close(gt, rt, op, what, dtype);
    const Comparison cmp = compare(gt, rt, default_tolerance(op, dtype));
    EXPECT_LT(cmp.rel_l2_error, 1e-2) << what;
    std::printf("  %-40s rel_l2 %.2e  max_abs %.2e\n", what, cmp.rel_l2_error, cmp.max_abs_error);
  };
  const auto g = gpu_->call(p);
  ChunkScanParams exact = p;
  exact.input_dtype = DType::float32;
  const auto r = gpu_->call(exact);
  both(g.out, r.out, "out vs float32 recurrence");
  both(g.final_states, r.final_states, "final_states vs float32 recurrence");
  if (!p.cu_seqlens.empty()) {
    both(g.varlen_states, r.varlen_states, "varlen_states vs float32 recurrence");
  }
  ChunkScanParams sub = p;
  sub.nheads = static_cast<std::int64_t>(heads.size());
  sub.ngroups = 1;  // the chosen heads all read group 0 (checked below)
  for (const auto h : heads) ASSERT_EQ(h / (p.nheads / p.ngroups), 0) << "head outside group 0";
  auto group0 = [&](const Tensor& t) {
    return take_heads(t, 2, std::vector<std::int64_t>{0});
  };
  sub.B = group0(p.B);
  sub.C = group0(p.C);
  sub.x = take_heads(p.x, 2, heads);
  sub.z = take_heads(p.z, 2, heads);
  sub.dt = take_heads(p.dt, 2, heads);
  sub.A = take_heads(p.A, 0, heads);
  sub.D = take_heads(p.D, 0, heads);
  sub.dt_bias = take_heads(p.dt_bias, 0, heads);
  sub.initial_states = take_heads(p.initial_states, 1, heads);
  const auto c = cpu_.call(sub);
  both(take_heads(g.out, 2, heads), c.out, "out (some heads) vs float64");
  both(take_heads(g.final_states, 1, heads), c.final_states, "final_states (some heads) vs float64");
  if (!p.cu_seqlens.empty()) {
    both(take_heads(g.varlen_states, 1, heads), c.varlen_states,
         "varlen_states (some heads) vs float64");
  }
}

// Mamba2-2.7B's mixer (80 heads x 64, dstate 128, one group) over 4096 tokens.
TEST_F(CudaVsCpuChunkScan, Mamba2_2_7bShapesLongSequenceBf16) {
  const ChunkScanShape s{.batch = 1, .seqlen = 4096, .nheads = 80, .headdim = 64, .ngroups = 1,
                         .dstate = 128, .dtype = DType::bfloat16};
  check_large(random_chunk_scan(s, rng_), {0, 11, 22, 37, 45, 58, 66, 79});
}

// More (batch, head) pairs than resident blocks, so that (given the workspace) the kernel may
// run each sequence as two halves handing the state over (on an H100: 320 pairs, 264 resident
// blocks): sequence resets just before, at and after the midpoint token 352.
TEST_F(CudaVsCpuChunkScan, ManyPairsSeqIdxAcrossTheMidpoint) {
  ChunkScanShape s{.batch = 4, .seqlen = 700, .nheads = 80, .headdim = 64, .ngroups = 1,
                   .dstate = 128, .dtype = DType::bfloat16};
  for (std::int64_t b = 0; b < 4; ++b) {
    const std::int64_t cut = 350 + b;  // 350, 351, 352 (the second half's first token), 353
    for (std::int64_t t = 0; t < 700; ++t) s.seq_idx.push_back(t < 100 + b ? 0 : t < cut ? 1 : 2);
  }
  check_large(random_chunk_scan(s, rng_), {0, 5, 41, 79});
}

// The same with packed sequences and varlen states (batch 1, 288 heads): a sequence ending on
// the first half's last token (287), a one-token sequence at the second half's first (288).
TEST_F(CudaVsCpuChunkScan, ManyHeadsVarlenAcrossTheMidpoint) {
  const ChunkScanShape s{.batch = 1, .seqlen = 600, .nheads = 288, .headdim = 64, .ngroups = 4,
                         .dstate = 64, .dtype = DType::bfloat16,
                         .cu_seqlens = {0, 100, 288, 289, 300, 450, 600}};
  check_large(random_chunk_scan(s, rng_), {0, 17, 71});
}

TEST_F(CudaVsCpuChunkScan, EightGroupsFp16NoDLimitedDt) {
  check({.batch = 2, .seqlen = 777, .nheads = 16, .headdim = 64, .ngroups = 8, .dstate = 64,
         .dtype = DType::float16, .d = false, .dt_min = 0.01, .dt_max = 0.1});
}

// float16 at dstate 128 (the bfloat16 tests above cover the other instance of that width),
// with sequence ids crossing chunk boundaries.
TEST_F(CudaVsCpuChunkScan, Fp16Dstate128SeqIdx) {
  ChunkScanShape s{.batch = 2, .seqlen = 333, .nheads = 4, .headdim = 64, .ngroups = 2,
                   .dstate = 128, .dtype = DType::float16};
  for (std::int64_t b = 0; b < s.batch; ++b) {
    for (std::int64_t t = 0; t < s.seqlen; ++t) s.seq_idx.push_back(t < 70 + b ? 0 : t < 250 ? 1 : 2);
  }
  check(s);
}

// Shapes that the warpgroup kernel takes on compute capability 9.0 (no sequence ids, dstate
// 128, whole 64-channel tiles): a partial last chunk, two channel tiles and four groups in
// float16; one chunk or less, exactly two chunks, and one token in bfloat16 without D, z or
// initial states (the producer and consumers then skip every hand-back barrier).
TEST_F(CudaVsCpuChunkScan, WarpgroupShapesFp16TwoTilesPartialChunk) {
  check({.batch = 2, .seqlen = 333, .nheads = 8, .headdim = 128, .ngroups = 4, .dstate = 128,
         .dtype = DType::float16});
}

TEST_F(CudaVsCpuChunkScan, WarpgroupShapesBf16ShortSequences) {
  for (const std::int64_t L : {50, 128, 1, 193}) {
    check({.batch = 3, .seqlen = L, .nheads = 4, .headdim = 64, .ngroups = 1, .dstate = 128,
           .dtype = DType::bfloat16, .d = false, .z = L % 2 == 1, .init = false,
           .dt_min = 0.001, .dt_max = 0.2});
  }
}

TEST_F(CudaVsCpuChunkScan, VarlenStartsInsideChunks) {
  // Sequences of 5, 1, 64, 58, 1, 71, 133 and 1 tokens: two ends inside one chunk, one on a
  // chunk's last token, a one-token sequence at a chunk's first, one spanning three chunks,
  // the last on the final token; two channel tiles (P = 128).
  check({.batch = 1, .seqlen = 334, .nheads = 4, .headdim = 128, .ngroups = 2, .dstate = 128,
         .dtype = DType::bfloat16, .cu_seqlens = {0, 5, 6, 70, 128, 129, 200, 333, 334}});
}

TEST_F(CudaVsCpuChunkScan, SeqIdxWithoutVarlenStatesBatch2) {
  ChunkScanShape s{.batch = 2, .seqlen = 300, .nheads = 8, .headdim = 64, .ngroups = 2,
                   .dstate = 128, .dtype = DType::bfloat16, .z = false};
  for (std::int64_t b = 0; b < 2; ++b) {
    for (std::int64_t t = 0; t < 300; ++t) s.seq_idx.push_back(t < 63 + b ? 0 : t < 190 ? 1 : 2);
  }
  check(s);
}

TEST_F(CudaVsCpuChunkScan, OddSizesPaddedTiles) {
  // dstate 24 and 256, headdim 40 and 8, L = 1 and L < one chunk.
  check({.batch = 3, .seqlen = 1, .nheads = 2, .headdim = 40, .ngroups = 1, .dstate = 24,
         .dtype = DType::bfloat16});
  check({.batch = 2, .seqlen = 50, .nheads = 3, .headdim = 8, .ngroups = 3, .dstate = 256,
         .dtype = DType::float16, .init = false, .softplus = false, .dt_min = 0.001});
  check({.batch = 1, .seqlen = 200, .nheads = 2, .headdim = 64, .ngroups = 1, .dstate = 256,
         .dtype = DType::bfloat16});
}

TEST_F(CudaVsCpuChunkScan, Float32StaysExact) {
  check({.batch = 2, .seqlen = 300, .nheads = 4, .headdim = 64, .ngroups = 2, .dstate = 128,
         .dtype = DType::float32, .cu_seqlens = {}});
}

}  // namespace
}  // namespace ssmkit
