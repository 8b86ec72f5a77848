// Properties of the CPU reference that hold whatever the goldens say: hand-computed
// values, prefill == decode steps, chunk-size independence, packed == separate sequences.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/cpu_backend.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using test::max_abs_diff;
using test::random_tensor;

Tensor slice_time(const Tensor& t, std::int64_t axis_len, std::int64_t begin, std::int64_t end,
                  std::int64_t outer, std::int64_t inner) {
  // t viewed as (outer, axis_len, inner); returns (outer, end-begin, inner) flattened shape.
  Tensor out(DType::float64, {outer, end - begin, inner});
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t a = begin; a < end; ++a) {
      for (std::int64_t i = 0; i < inner; ++i) {
        out.span<double>()[(o * (end - begin) + (a - begin)) * inner + i] =
            t.value((o * axis_len + a) * inner + i);
      }
    }
  }
  return out;
}

TEST(CpuCausalConv1d, HandComputedValues) {
  CpuBackend cpu;
  CausalConv1dParams p;
  p.batch = 1, p.dim = 1, p.seqlen = 3, p.width = 2;
  p.x = Tensor::from_vector<double>({1, 1, 3}, {1, 2, 3});
  p.weight = Tensor::from_vector<double>({1, 2}, {2, 3});
  p.bias = Tensor::from_vector<double>({1}, {1});
  auto r = cpu.call(p);
  EXPECT_EQ(max_abs_diff(r.out, Tensor::from_vector<double>({1, 1, 3}, {4, 9, 14})), 0.0);
  EXPECT_EQ(max_abs_diff(r.final_states, Tensor::from_vector<double>({1, 1, 1}, {3})), 0.0);
  EXPECT_EQ(max_abs_diff(r.conv_state, Tensor::from_vector<double>({1, 1, 2}, {2, 3})), 0.0);
  p.initial_states = Tensor::from_vector<double>({1, 1, 1}, {5});
  p.silu = true;
  r = cpu.call(p);
  EXPECT_NEAR(r.out.value(0), 14.0 / (1.0 + std::exp(-14.0)), 1e-12);
}

TEST(CpuCausalConv1d, PrefillEqualsDecodeSteps) {
  std::mt19937 rng(1);
  CpuBackend cpu;
  const std::int64_t B = 2, D = 3, L = 7, W = 4;
  CausalConv1dParams p;
  p.batch = B, p.dim = D, p.seqlen = L, p.width = W, p.silu = true;
  p.x = random_tensor({B, D, L}, rng);
  p.weight = random_tensor({D, W}, rng);
  p.bias = random_tensor({D}, rng);
  p.initial_states = random_tensor({B, D, W - 1}, rng);
  const auto prefill = cpu.call(p);

  // Decode from a W-wide window (HF layout) and from a (W-1)-wide one (causal-conv1d).
  for (std::int64_t state_len : {W, W - 1}) {
    CausalConv1dUpdateParams u;
    u.batch = B, u.dim = D, u.seqlen = 1, u.width = W, u.state_len = state_len, u.silu = true;
    u.weight = p.weight;
    u.bias = p.bias;
    u.conv_state = Tensor(DType::float64, {B, D, state_len});
    for (std::int64_t i = 0; i < B * D; ++i) {
      for (std::int64_t k = 0; k < W - 1; ++k) {
        u.conv_state.span<double>()[i * state_len + (state_len - (W - 1)) + k] =
            p.initial_states.value(i * (W - 1) + k);
      }
    }
    for (std::int64_t t = 0; t < L; ++t) {
      u.x = slice_time(p.x, L, t, t + 1, B * D, 1);
      auto step = cpu.call(u);
      for (std::int64_t i = 0; i < B * D; ++i) {
        EXPECT_NEAR(step.out.value(i), prefill.out.value(i * L + t), 1e-12);
      }
      u.conv_state = step.conv_state;
    }
    const Tensor& expected = state_len == W ? prefill.conv_state : prefill.final_states;
    EXPECT_LT(max_abs_diff(u.conv_state, expected), 1e-15) << "state_len " << state_len;
  }
}

SelectiveScanParams random_scan(std::mt19937& rng, std::int64_t B, std::int64_t D,
                                std::int64_t L, std::int64_t N) {
  SelectiveScanParams p;
  p.batch = B, p.dim = D, p.seqlen = L, p.dstate = N, p.ngroups = 1, p.delta_softplus = true;
  p.u = random_tensor({B, D, L}, rng);
  p.delta = random_tensor({B, D, L}, rng, -4.0, -1.0);
  p.A = random_tensor({D, N}, rng, -2.0, -0.1);
  p.B = random_tensor({B, 1, N, L}, rng);
  p.C = random_tensor({B, 1, N, L}, rng);
  p.D = random_tensor({D}, rng);
  p.z = random_tensor({B, D, L}, rng);
  p.delta_bias = random_tensor({D}, rng, 0.0, 0.5);
  return p;
}

TEST(CpuSelectiveScan, PrefillEqualsDecodeSteps) {
  std::mt19937 rng(2);
  CpuBackend cpu;
  const std::int64_t B = 2, D = 5, L = 9, N = 3;
  const auto p = random_scan(rng, B, D, L, N);
  const auto prefill = cpu.call(p);

  SelectiveStateUpdateParams u;  // Mamba1 layout: one head of D channels
  u.batch = B, u.nheads = 1, u.headdim = D, u.dstate = N, u.ngroups = 1, u.state_slots = B;
  u.dt_softplus = true;
  u.state = Tensor(DType::float64, {B, 1, D, N});
  u.A = p.A.reshaped({1, D, N});
  u.D = p.D.reshaped({1, D});
  u.dt_bias = p.delta_bias.reshaped({1, D});
  for (std::int64_t t = 0; t < L; ++t) {
    u.x = slice_time(p.u, L, t, t + 1, B * D, 1).reshaped({B, 1, D});
    u.dt = slice_time(p.delta, L, t, t + 1, B * D, 1).reshaped({B, 1, D});
    u.z = slice_time(p.z, L, t, t + 1, B * D, 1).reshaped({B, 1, D});
    u.B = slice_time(p.B, L, t, t + 1, B * N, 1).reshaped({B, 1, N});
    u.C = slice_time(p.C, L, t, t + 1, B * N, 1).reshaped({B, 1, N});
    auto step = cpu.call(u);
    for (std::int64_t i = 0; i < B * D; ++i) {
      EXPECT_NEAR(step.out.value(i), prefill.out.value(i * L + t), 1e-12);
    }
    u.state = step.state;
  }
  EXPECT_LT(max_abs_diff(u.state.reshaped({B, D, N}), prefill.last_state), 1e-12);
}

TEST(CpuSelectiveStateUpdate, PadSlotsAreSkippedAndIndicesScatter) {
  std::mt19937 rng(3);
  CpuBackend cpu;
  SelectiveStateUpdateParams u;
  u.batch = 2, u.nheads = 2, u.headdim = 2, u.dstate = 2, u.ngroups = 1, u.state_slots = 4;
  u.state = random_tensor({4, 2, 2, 2}, rng);
  u.x = random_tensor({2, 2, 2}, rng);
  u.dt = random_tensor({2, 2, 2}, rng, 0.01, 0.1);
  u.A = random_tensor({2, 2, 2}, rng, -1.0, -0.1);
  u.B = random_tensor({2, 1, 2}, rng);
  u.C = random_tensor({2, 1, 2}, rng);
  u.state_batch_indices = {3, -1};
  const auto r = cpu.call(u);
  for (std::int64_t slot : {0, 1, 2}) {
    for (std::int64_t i = 0; i < 8; ++i) {
      EXPECT_EQ(r.state.value(slot * 8 + i), u.state.value(slot * 8 + i)) << slot;
    }
  }
  EXPECT_GT(max_abs_diff(r.state, u.state), 0.0);  // slot 3 moved
  for (std::int64_t i = 4; i < 8; ++i) EXPECT_EQ(r.out.value(i), 0.0);  // padded row
}

ChunkScanParams random_chunk_scan(std::mt19937& rng, std::int64_t B, std::int64_t L,
                                  std::int64_t H, std::int64_t P, std::int64_t G,
                                  std::int64_t N) {
  ChunkScanParams p;
  p.batch = B, p.seqlen = L, p.nheads = H, p.headdim = P, p.ngroups = G, p.dstate = N;
  p.dt_softplus = true;
  p.x = random_tensor({B, L, H, P}, rng);
  p.dt = random_tensor({B, L, H}, rng, -3.0, 0.0);
  p.A = random_tensor({H}, rng, -3.0, -0.5);
  p.B = random_tensor({B, L, G, N}, rng);
  p.C = random_tensor({B, L, G, N}, rng);
  p.D = random_tensor({H, P}, rng);
  p.z = random_tensor({B, L, H, P}, rng);
  p.dt_bias = random_tensor({H}, rng, -0.5, 0.5);
  return p;
}

TEST(CpuChunkScan, ChunkSizeDoesNotChangeTheResult) {
  std::mt19937 rng(4);
  CpuBackend cpu;
  auto p = random_chunk_scan(rng, 2, 37, 4, 3, 2, 5);
  p.initial_states = random_tensor({2, 4, 3, 5}, rng);
  p.chunk_size = 37;
  const auto whole = cpu.call(p);
  for (std::int64_t q : {1, 3, 8, 16, 64}) {
    p.chunk_size = q;
    const auto r = cpu.call(p);
    EXPECT_LT(max_abs_diff(r.out, whole.out), 1e-11) << "chunk " << q;
    EXPECT_LT(max_abs_diff(r.final_states, whole.final_states), 1e-11) << "chunk " << q;
  }
}

TEST(CpuChunkScan, EqualsTokenRecurrence) {
  std::mt19937 rng(5);
  CpuBackend cpu;
  const std::int64_t B = 1, L = 11, H = 4, P = 2, G = 2, N = 3;
  auto p = random_chunk_scan(rng, B, L, H, P, G, N);
  p.chunk_size = 4;
  p.dt_min = 0.05, p.dt_max = 0.5;  // exercise the clamp
  const auto chunked = cpu.call(p);

  SelectiveStateUpdateParams u;
  u.batch = B, u.nheads = H, u.headdim = P, u.dstate = N, u.ngroups = G, u.state_slots = B;
  u.state = Tensor(DType::float64, {B, H, P, N});
  u.A = Tensor(DType::float64, {H, P, N});
  for (std::int64_t i = 0; i < H * P * N; ++i) u.A.span<double>()[i] = p.A.value(i / (P * N));
  u.D = p.D;
  for (std::int64_t t = 0; t < L; ++t) {
    // dt goes through bias, softplus and the clamp here, then is handed over as is.
    u.dt = Tensor(DType::float64, {B, H, P});
    for (std::int64_t h = 0; h < H; ++h) {
      double v = p.dt.value(t * H + h) + p.dt_bias.value(h);
      v = std::clamp(v > 20 ? v : std::log1p(std::exp(v)), p.dt_min, p.dt_max);
      for (std::int64_t q = 0; q < P; ++q) u.dt.span<double>()[h * P + q] = v;
    }
    u.x = slice_time(p.x, L, t, t + 1, B, H * P).reshaped({B, H, P});
    u.z = slice_time(p.z, L, t, t + 1, B, H * P).reshaped({B, H, P});
    u.B = slice_time(p.B, L, t, t + 1, B, G * N).reshaped({B, G, N});
    u.C = slice_time(p.C, L, t, t + 1, B, G * N).reshaped({B, G, N});
    auto step = cpu.call(u);
    for (std::int64_t i = 0; i < H * P; ++i) {
      EXPECT_NEAR(step.out.value(i), chunked.out.value(t * H * P + i), 1e-11) << "t=" << t;
    }
    u.state = step.state;
  }
  EXPECT_LT(max_abs_diff(u.state, chunked.final_states), 1e-11);
}

TEST(CpuChunkScan, PackedSequencesEqualSeparateRuns) {
  std::mt19937 rng(6);
  CpuBackend cpu;
  const std::vector<std::int64_t> lengths = {5, 3, 1, 8};  // boundaries inside and on chunks
  const std::int64_t L = 17, H = 2, P = 3, G = 1, N = 4;
  auto packed = random_chunk_scan(rng, 1, L, H, P, G, N);
  packed.chunk_size = 4;
  packed.initial_states = random_tensor({1, H, P, N}, rng);
  packed.cu_seqlens = {0};
  for (auto len : lengths) {
    for (std::int64_t t = 0; t < len; ++t) {
      packed.seq_idx.push_back(static_cast<std::int64_t>(packed.cu_seqlens.size()) - 1);
    }
    packed.cu_seqlens.push_back(packed.cu_seqlens.back() + len);
  }
  const auto r = cpu.call(packed);
  ASSERT_TRUE(r.varlen_states.defined());

  for (std::size_t s = 0; s < lengths.size(); ++s) {
    const auto begin = packed.cu_seqlens[s], end = packed.cu_seqlens[s + 1];
    ChunkScanParams one = packed;
    one.seqlen = end - begin;
    one.seq_idx.clear();
    one.cu_seqlens.clear();
    one.x = slice_time(packed.x, L, begin, end, 1, H * P).reshaped({1, end - begin, H, P});
    one.z = slice_time(packed.z, L, begin, end, 1, H * P).reshaped({1, end - begin, H, P});
    one.dt = slice_time(packed.dt, L, begin, end, 1, H).reshaped({1, end - begin, H});
    one.B = slice_time(packed.B, L, begin, end, 1, G * N).reshaped({1, end - begin, G, N});
    one.C = slice_time(packed.C, L, begin, end, 1, G * N).reshaped({1, end - begin, G, N});
    if (s > 0) one.initial_states = Tensor{};  // only the first sequence starts from it
    const auto alone = cpu.call(one);
    const auto packed_out = slice_time(r.out, L, begin, end, 1, H * P);
    EXPECT_LT(max_abs_diff(packed_out, alone.out.reshaped(packed_out.shape())), 1e-11) << s;
    const auto state = slice_time(r.varlen_states, static_cast<std::int64_t>(lengths.size()), s,
                                  s + 1, 1, H * P * N);
    EXPECT_LT(max_abs_diff(state, alone.final_states.reshaped(state.shape())), 1e-11) << s;
  }
  const auto last = slice_time(r.varlen_states, 4, 3, 4, 1, H * P * N);
  EXPECT_LT(max_abs_diff(last, r.final_states.reshaped(last.shape())), 1e-15);
}

TEST(CpuChunkScan, SplitPrefillWithCarriedStateEqualsOneShot) {
  std::mt19937 rng(7);
  CpuBackend cpu;
  const std::int64_t L = 20, H = 2, P = 2, G = 1, N = 3, split = 9;
  auto p = random_chunk_scan(rng, 1, L, H, P, G, N);
  p.chunk_size = 8;
  const auto whole = cpu.call(p);
  auto part = [&](std::int64_t begin, std::int64_t end, const Tensor& init) {
    ChunkScanParams q = p;
    q.seqlen = end - begin;
    q.x = slice_time(p.x, L, begin, end, 1, H * P).reshaped({1, end - begin, H, P});
    q.z = slice_time(p.z, L, begin, end, 1, H * P).reshaped({1, end - begin, H, P});
    q.dt = slice_time(p.dt, L, begin, end, 1, H).reshaped({1, end - begin, H});
    q.B = slice_time(p.B, L, begin, end, 1, G * N).reshaped({1, end - begin, G, N});
    q.C = slice_time(p.C, L, begin, end, 1, G * N).reshaped({1, end - begin, G, N});
    q.initial_states = init;
    return cpu.call(q);
  };
  const auto first = part(0, split, Tensor{});
  const auto second = part(split, L, first.final_states);
  EXPECT_LT(max_abs_diff(second.final_states, whole.final_states), 1e-12);
  const auto tail = slice_time(whole.out, L, split, L, 1, H * P);
  EXPECT_LT(max_abs_diff(second.out.reshaped(tail.shape()), tail), 1e-12);
}

TEST(CpuGatedRmsNorm, HandComputedValues) {
  CpuBackend cpu;
  GatedRmsNormParams p;
  p.rows = 1, p.dim = 2, p.group_size = 2, p.eps = 0.0;
  p.x = Tensor::from_vector<double>({1, 2}, {3, 4});
  p.weight = Tensor::from_vector<double>({2}, {1, 2});
  auto r = cpu.call(p);
  const double rms = std::sqrt(12.5);
  EXPECT_NEAR(r.out.value(0), 3 / rms, 1e-15);
  EXPECT_NEAR(r.out.value(1), 8 / rms, 1e-15);
  p.group_size = 1;  // each feature is its own group: x / |x| * weight
  r = cpu.call(p);
  EXPECT_NEAR(r.out.value(0), 1.0, 1e-15);
  EXPECT_NEAR(r.out.value(1), 2.0, 1e-15);
  // Gate before the norm: silu(z) scales x, and the norm removes a common scale.
  p.group_size = 2;
  p.z = Tensor::from_vector<double>({1, 2}, {5, 5});
  p.norm_before_gate = false;
  r = cpu.call(p);
  EXPECT_NEAR(r.out.value(0), 3 / rms, 1e-14);
  p.norm_before_gate = true;
  r = cpu.call(p);
  EXPECT_NEAR(r.out.value(0), 3 / rms * 5 / (1 + std::exp(-5.0)), 1e-14);
}

TEST(CpuLightningAttention, SplitWithCarriedStateEqualsOneShot) {
  std::mt19937 rng(8);
  CpuBackend cpu;
  const std::int64_t B = 1, H = 2, L = 6, K = 3, V = 2;
  LightningAttentionParams p;
  p.batch = B, p.nheads = H, p.seqlen = L, p.key_dim = K, p.value_dim = V;
  p.q = random_tensor({B, H, L, K}, rng);
  p.k = random_tensor({B, H, L, K}, rng);
  p.v = random_tensor({B, H, L, V}, rng);
  p.slope = Tensor::from_vector<double>({H}, {0.5, 0.0625});
  const auto whole = cpu.call(p);
  LightningAttentionParams a = p, b = p;
  a.seqlen = 4;
  b.seqlen = 2;
  a.q = slice_time(p.q, L, 0, 4, H, K);
  a.k = slice_time(p.k, L, 0, 4, H, K);
  a.v = slice_time(p.v, L, 0, 4, H, V);
  b.q = slice_time(p.q, L, 4, 6, H, K);
  b.k = slice_time(p.k, L, 4, 6, H, K);
  b.v = slice_time(p.v, L, 4, 6, H, V);
  b.initial_state = cpu.call(a).final_state;
  const auto second = cpu.call(b);
  EXPECT_LT(max_abs_diff(second.final_state, whole.final_state), 1e-14);
  EXPECT_LT(max_abs_diff(second.out.reshaped({H, 2, V}), slice_time(whole.out, L, 4, 6, H, V)),
            1e-14);
  // First token from a zero state: o = q (k^T v) = (q . k) v.
  double qk = 0;
  for (int i = 0; i < K; ++i) qk += p.q.value(i) * p.k.value(i);
  EXPECT_NEAR(whole.out.value(0), qk * p.v.value(0), 1e-15);
}

}  // namespace
}  // namespace ssmkit
