// Replays through the caches with the CPU reference ops: a prefill in chunks whose conv
// window and SSM state are carried in the cache equals the one-shot prefill, and k decode
// steps on the cached states after a prefill of L equal a prefill of L + k. Mamba2
// (causal_conv1d + mamba_chunk_scan_combined / causal_conv1d_update +
// selective_state_update), Mamba1 (causal_conv1d + selective_scan / the same decode ops)
// and lightning attention. Each runs with float64 caches (the logic, to 1e-12) and with
// float32 and bfloat16 caches (what the rounding of the carried states costs).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "cpu/cpu_backend.hpp"
#include "ssmkit/cache/linear_attention_state_cache.hpp"
#include "ssmkit/cache/mamba_state_cache.hpp"
#include "storage_allocators.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

class CacheReplayOnStorage : public test::OnEveryAllocator {};
SSMKIT_ON_EVERY_ALLOCATOR(CacheReplayOnStorage);

using test::random_tensor;

// Elements [begin, end) of `axis` of a float64 tensor.
Tensor slice_axis(const Tensor& t, int axis, std::int64_t begin, std::int64_t end) {
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= t.dim(i);
  for (int i = axis + 1; i < t.rank(); ++i) inner *= t.dim(i);
  const std::int64_t len = t.dim(axis), n = end - begin;
  Shape shape = t.shape();
  shape[axis] = n;
  Tensor out(DType::float64, shape);
  auto dst = out.span<double>();
  const auto src = t.span<double>();
  for (std::int64_t o = 0; o < outer; ++o) {
    std::copy_n(src.begin() + (o * len + begin) * inner, n * inner, dst.begin() + o * n * inner);
  }
  return out;
}

// Conv channels [c0, c1) of a (batch, channels, tokens) tensor, as (batch, tokens, c1 - c0).
Tensor channels_last(const Tensor& t, std::int64_t c0, std::int64_t c1) {
  const std::int64_t B = t.dim(0), C = t.dim(1), L = t.dim(2), n = c1 - c0;
  Tensor out(DType::float64, {B, L, n});
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t l = 0; l < L; ++l) {
      for (std::int64_t c = 0; c < n; ++c) {
        out.span<double>()[(b * L + l) * n + c] = t.value((b * C + c0 + c) * L + l);
      }
    }
  }
  return out;
}

// Rows of a tensor along axis 0; -1 gives a row of zeros (a padding batch row).
Tensor rows(const Tensor& t, const std::vector<std::int64_t>& which) {
  Shape shape = t.shape();
  shape[0] = static_cast<std::int64_t>(which.size());
  Tensor out(DType::float64, shape);
  const std::int64_t row = t.numel() / t.dim(0);
  for (std::size_t i = 0; i < which.size(); ++i) {
    if (which[i] < 0) continue;
    std::copy_n(t.span<double>().begin() + which[i] * row, row,
                out.span<double>().begin() + static_cast<std::int64_t>(i) * row);
  }
  return out;
}

// Repeats each element of the last axis `times` times into a new last axis.
Tensor repeat_last(const Tensor& t, std::int64_t times) {
  Shape shape = t.shape();
  shape.push_back(times);
  Tensor out(DType::float64, shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    for (std::int64_t j = 0; j < times; ++j) out.span<double>()[i * times + j] = t.value(i);
  }
  return out;
}

// |actual - expected| <= atol + rtol |expected| everywhere; returns the worst excess.
double allclose_excess(const Tensor& actual, const Tensor& expected, double tol) {
  EXPECT_EQ(actual.numel(), expected.numel());
  double worst = 0.0;
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    const double e = expected.value(i), d = std::fabs(actual.value(i) - e);
    if (!std::isfinite(actual.value(i))) return INFINITY;
    worst = std::max(worst, d - tol * (1.0 + std::fabs(e)));
  }
  return worst;
}

double tolerance(DType dtype) {
  switch (dtype) {
    case DType::float64: return 1e-12;
    case DType::float32: return 1e-5;
    default: return 3e-2;  // README's bfloat16 tolerance for scans
  }
}

constexpr DType kCacheDtypes[] = {DType::float64, DType::float32, DType::bfloat16};

// ---------------------------------------------------------------------------- Mamba2

struct Mamba2Model {
  std::int64_t batch = 2, heads = 4, head_dim = 2, groups = 2, d_state = 3, kernel = 4;
  std::int64_t inner() const { return heads * head_dim; }
  std::int64_t conv_dim() const { return inner() + 2 * groups * d_state; }
  Tensor xbc;  // (batch, conv_dim, tokens): conv inputs, x | B | C
  Tensor conv_weight, conv_bias;
  Tensor dt;          // (batch, tokens, heads)
  Tensor A, dt_bias;  // (heads)
  Tensor D;           // (heads, head_dim)
  Tensor z;           // (batch, tokens, heads, head_dim)

  Mamba2Model(std::mt19937& rng, std::int64_t tokens) {
    xbc = random_tensor({batch, conv_dim(), tokens}, rng);
    conv_weight = random_tensor({conv_dim(), kernel}, rng);
    conv_bias = random_tensor({conv_dim()}, rng);
    dt = random_tensor({batch, tokens, heads}, rng, -3.0, 0.0);
    A = random_tensor({heads}, rng, -3.0, -0.5);
    dt_bias = random_tensor({heads}, rng, -0.5, 0.5);
    D = random_tensor({heads, head_dim}, rng);
    z = random_tensor({batch, tokens, heads, head_dim}, rng);
  }

  Mamba2CacheConfig cache_config(DType dtype, std::int64_t slots) const {
    Mamba2CacheConfig c;
    c.num_layers = 2, c.max_batch = slots, c.intermediate_size = inner(), c.num_heads = heads;
    c.head_dim = head_dim, c.n_groups = groups, c.d_state = d_state, c.conv_kernel = kernel;
    c.conv_dtype = c.ssm_dtype = dtype;
    return c;
  }

  struct Prefill {
    Tensor y;  // (batch, n, heads, head_dim)
    Tensor final_states;
    Tensor conv_state;
  };

  // Tokens [t0, t1) through conv and scan, from carried states (undefined: zeros).
  Prefill prefill(CpuBackend& cpu, std::int64_t t0, std::int64_t t1, const Tensor& conv_init,
                  const Tensor& ssm_init, std::int64_t chunk_size) const {
    const std::int64_t n = t1 - t0, gn = groups * d_state;
    CausalConv1dParams c;
    c.batch = batch, c.dim = conv_dim(), c.seqlen = n, c.width = kernel, c.silu = true;
    c.x = slice_axis(xbc, 2, t0, t1);
    c.weight = conv_weight;
    c.bias = conv_bias;
    c.initial_states = conv_init;
    const auto conv = cpu.call(c);
    ChunkScanParams s;
    s.batch = batch, s.seqlen = n, s.nheads = heads, s.headdim = head_dim, s.ngroups = groups;
    s.dstate = d_state, s.chunk_size = chunk_size, s.dt_softplus = true;
    s.x = channels_last(conv.out, 0, inner()).reshaped({batch, n, heads, head_dim});
    s.B = channels_last(conv.out, inner(), inner() + gn).reshaped({batch, n, groups, d_state});
    s.C = channels_last(conv.out, inner() + gn, conv_dim()).reshaped({batch, n, groups, d_state});
    s.dt = slice_axis(dt, 1, t0, t1);
    s.A = A, s.D = D, s.dt_bias = dt_bias;
    s.z = slice_axis(z, 1, t0, t1);
    s.initial_states = ssm_init;
    const auto scan = cpu.call(s);
    return {scan.out, scan.final_states, conv.conv_state};
  }

  // Token t of the batch rows `inputs` (-1: padding) on the cached states of `slots`.
  Tensor decode(CpuBackend& cpu, std::int64_t t, Mamba2StateCache& cache, std::int64_t layer,
                const std::vector<std::int64_t>& slots,
                const std::vector<std::int64_t>& inputs) const {
    const auto n = static_cast<std::int64_t>(slots.size());
    const std::int64_t gn = groups * d_state;
    CausalConv1dUpdateParams c;
    c.batch = n, c.dim = conv_dim(), c.seqlen = 1, c.width = kernel, c.state_len = kernel;
    c.silu = true;
    c.x = rows(slice_axis(xbc, 2, t, t + 1), inputs);
    c.conv_state = cache.gather_conv_windows(layer, slots).to(DType::float64);
    c.weight = conv_weight;
    c.bias = conv_bias;
    const auto conv = cpu.call(c);
    // The cache's own window update must agree with the kernel's.
    cache.update_conv_windows(layer, slots, c.x);
    EXPECT_EQ(test::max_abs_diff(cache.gather_conv_windows(layer, slots).to(DType::float64),
                                 conv.conv_state.to(cache.config().conv_dtype).to(DType::float64)),
              0.0);

    std::vector<std::int64_t> all_slots(static_cast<std::size_t>(cache.max_batch()));
    std::iota(all_slots.begin(), all_slots.end(), 0);
    SelectiveStateUpdateParams u;
    u.batch = n, u.nheads = heads, u.headdim = head_dim, u.dstate = d_state, u.ngroups = groups;
    u.state_slots = cache.max_batch(), u.dt_softplus = true;
    u.state = cache.gather_ssm_states(layer, all_slots).to(DType::float64);
    u.x = slice_axis(conv.out, 1, 0, inner()).reshaped({n, heads, head_dim});
    u.B = slice_axis(conv.out, 1, inner(), inner() + gn).reshaped({n, groups, d_state});
    u.C = slice_axis(conv.out, 1, inner() + gn, conv_dim()).reshaped({n, groups, d_state});
    u.dt = repeat_last(rows(slice_axis(dt, 1, t, t + 1), inputs).reshaped({n, heads}), head_dim);
    u.A = repeat_last(repeat_last(A, head_dim), d_state);
    u.D = D;
    u.z = rows(slice_axis(z, 1, t, t + 1), inputs).reshaped({n, heads, head_dim});
    u.dt_bias = repeat_last(dt_bias, head_dim);
    u.state_batch_indices = slots;
    u.pad_slot_id = kPadSlot;
    const auto step = cpu.call(u);
    cache.scatter_ssm_states(layer, all_slots, step.state);
    cache.advance_positions(slots, 1);
    return step.out;  // (n, heads, head_dim)
  }
};

TEST_P(CacheReplayOnStorage, Mamba2ChunkedPrefillEqualsOneShot) {
  std::mt19937 rng(1);
  CpuBackend cpu;
  const std::int64_t L = 11;
  const Mamba2Model model(rng, L);
  const auto whole = model.prefill(cpu, 0, L, Tensor(), Tensor(), 4);
  // Chunks shorter than the kernel, of one token, and longer than the kernel.
  const std::vector<std::int64_t> bounds{0, 2, 3, 9, 11};
  for (const DType dtype : kCacheDtypes) {
    Mamba2StateCache cache(model.cache_config(dtype, 3), allocator());
    const std::vector<std::int64_t> slots{2, 0};  // batch row 0 lives in slot 2
    const std::int64_t layer = 1;
    for (std::size_t i = 0; i + 1 < bounds.size(); ++i) {
      const std::int64_t t0 = bounds[i], t1 = bounds[i + 1];
      const auto chunk =
          model.prefill(cpu, t0, t1, cache.conv_initial_states(layer, slots).to(DType::float64),
                        cache.gather_ssm_states(layer, slots).to(DType::float64), 2);
      cache.update_conv_windows(layer, slots, slice_axis(model.xbc, 2, t0, t1));
      cache.scatter_ssm_states(layer, slots, chunk.final_states);
      cache.advance_positions(slots, t1 - t0);
      EXPECT_LE(allclose_excess(chunk.y, slice_axis(whole.y, 1, t0, t1), tolerance(dtype)), 0.0)
          << dtype_name(dtype) << " chunk [" << t0 << ", " << t1 << ")";
    }
    EXPECT_LE(allclose_excess(cache.gather_ssm_states(layer, slots).to(DType::float64),
                              whole.final_states, tolerance(dtype)),
              0.0)
        << dtype_name(dtype);
    EXPECT_EQ(test::max_abs_diff(cache.gather_conv_windows(layer, slots).to(DType::float64),
                                 whole.conv_state.to(dtype).to(DType::float64)),
              0.0)
        << dtype_name(dtype);
    EXPECT_EQ(cache.position(2), L);
    EXPECT_EQ(cache.position(1), 0);
    EXPECT_TRUE(test::max_abs_diff(cache.ssm_state(0, 2).to(DType::float64),
                                   test::full({4, 2, 3}, 0.0)) == 0.0);  // other layer untouched
  }
}

TEST_P(CacheReplayOnStorage, Mamba2DecodeAfterPrefillEqualsLongerPrefill) {
  std::mt19937 rng(2);
  CpuBackend cpu;
  const std::int64_t L = 6, k = 4;
  const Mamba2Model model(rng, L + k);
  const auto longer = model.prefill(cpu, 0, L + k, Tensor(), Tensor(), 3);
  for (const DType dtype : kCacheDtypes) {
    Mamba2StateCache cache(model.cache_config(dtype, 3), allocator());
    const std::int64_t layer = 0;
    // Slot 1 belongs to nobody in this batch; its state must survive untouched.
    const Tensor bystander = random_tensor({4, 2, 3}, rng);
    cache.set_ssm_state(layer, 1, bystander);
    const std::vector<std::int64_t> prefill_slots{2, 0};
    const auto prefill = model.prefill(cpu, 0, L, Tensor(), Tensor(), 3);
    cache.update_conv_windows(layer, prefill_slots, slice_axis(model.xbc, 2, 0, L));
    cache.scatter_ssm_states(layer, prefill_slots, prefill.final_states);
    cache.advance_positions(prefill_slots, L);
    // The decode batch has a padding row between the two requests.
    const std::vector<std::int64_t> slots{2, kPadSlot, 0}, inputs{0, -1, 1};
    for (std::int64_t t = L; t < L + k; ++t) {
      const Tensor out = model.decode(cpu, t, cache, layer, slots, inputs);
      const Tensor expected = slice_axis(longer.y, 1, t, t + 1);  // (2, 1, heads, head_dim)
      EXPECT_LE(allclose_excess(rows(out, {0, 2}), expected, tolerance(dtype)), 0.0)
          << dtype_name(dtype) << " token " << t;
      EXPECT_EQ(test::max_abs_diff(rows(out, {1}), test::full({1, 4, 2}, 0.0)), 0.0);
    }
    EXPECT_LE(allclose_excess(cache.gather_ssm_states(layer, prefill_slots).to(DType::float64),
                              longer.final_states, tolerance(dtype)),
              0.0);
    EXPECT_EQ(test::max_abs_diff(cache.ssm_state(layer, 1).to(DType::float64),
                                 bystander.to(dtype).to(DType::float64)),
              0.0);
    EXPECT_EQ(cache.position(0), L + k);
  }
}

// ---------------------------------------------------------------------------- Mamba1

struct Mamba1Model {
  std::int64_t batch = 2, dim = 5, d_state = 3, kernel = 4;
  Tensor x;  // (batch, dim, tokens): conv inputs
  Tensor conv_weight, conv_bias;
  Tensor delta, z;       // (batch, dim, tokens)
  Tensor A;              // (dim, d_state)
  Tensor B, C;           // (batch, 1, d_state, tokens)
  Tensor D, delta_bias;  // (dim)

  Mamba1Model(std::mt19937& rng, std::int64_t tokens) {
    x = random_tensor({batch, dim, tokens}, rng);
    conv_weight = random_tensor({dim, kernel}, rng);
    conv_bias = random_tensor({dim}, rng);
    delta = random_tensor({batch, dim, tokens}, rng, -4.0, -1.0);
    z = random_tensor({batch, dim, tokens}, rng);
    A = random_tensor({dim, d_state}, rng, -2.0, -0.1);
    B = random_tensor({batch, 1, d_state, tokens}, rng);
    C = random_tensor({batch, 1, d_state, tokens}, rng);
    D = random_tensor({dim}, rng);
    delta_bias = random_tensor({dim}, rng, 0.0, 0.5);
  }

  SelectiveScanResult prefill(CpuBackend& cpu, std::int64_t tokens) const {
    CausalConv1dParams c;
    c.batch = batch, c.dim = dim, c.seqlen = tokens, c.width = kernel, c.silu = true;
    c.x = slice_axis(x, 2, 0, tokens);
    c.weight = conv_weight;
    c.bias = conv_bias;
    SelectiveScanParams s;
    s.batch = batch, s.dim = dim, s.seqlen = tokens, s.dstate = d_state, s.ngroups = 1;
    s.delta_softplus = true;
    s.u = cpu.call(c).out;
    s.delta = slice_axis(delta, 2, 0, tokens);
    s.z = slice_axis(z, 2, 0, tokens);
    s.A = A, s.D = D, s.delta_bias = delta_bias;
    s.B = slice_axis(B, 3, 0, tokens);
    s.C = slice_axis(C, 3, 0, tokens);
    return cpu.call(s);
  }

  // Mamba1's (B, D, N) state runs through selective_state_update as one head of D channels.
  Tensor decode(CpuBackend& cpu, std::int64_t t, MambaStateCache& cache, std::int64_t layer,
                const std::vector<std::int64_t>& slots,
                const std::vector<std::int64_t>& inputs) const {
    const auto n = static_cast<std::int64_t>(slots.size());
    CausalConv1dUpdateParams c;
    c.batch = n, c.dim = dim, c.seqlen = 1, c.width = kernel, c.state_len = kernel, c.silu = true;
    c.x = rows(slice_axis(x, 2, t, t + 1), inputs);
    c.conv_state = cache.gather_conv_windows(layer, slots).to(DType::float64);
    c.weight = conv_weight;
    c.bias = conv_bias;
    const auto conv = cpu.call(c);
    cache.scatter_conv_windows(layer, slots, conv.conv_state);

    std::vector<std::int64_t> all_slots(static_cast<std::size_t>(cache.max_batch()));
    std::iota(all_slots.begin(), all_slots.end(), 0);
    SelectiveStateUpdateParams u;
    u.batch = n, u.nheads = 1, u.headdim = dim, u.dstate = d_state, u.ngroups = 1;
    u.state_slots = cache.max_batch(), u.dt_softplus = true;
    u.state = cache.gather_ssm_states(layer, all_slots)
                  .to(DType::float64)
                  .reshaped({cache.max_batch(), 1, dim, d_state});
    u.x = conv.out.reshaped({n, 1, dim});
    u.dt = rows(slice_axis(delta, 2, t, t + 1), inputs).reshaped({n, 1, dim});
    u.z = rows(slice_axis(z, 2, t, t + 1), inputs).reshaped({n, 1, dim});
    u.B = rows(slice_axis(B, 3, t, t + 1), inputs).reshaped({n, 1, d_state});
    u.C = rows(slice_axis(C, 3, t, t + 1), inputs).reshaped({n, 1, d_state});
    u.A = A.reshaped({1, dim, d_state});
    u.D = D.reshaped({1, dim});
    u.dt_bias = delta_bias.reshaped({1, dim});
    u.state_batch_indices = slots;
    const auto step = cpu.call(u);
    cache.scatter_ssm_states(layer, all_slots,
                             step.state.reshaped({cache.max_batch(), dim, d_state}));
    cache.advance_positions(slots, 1);
    return step.out.reshaped({n, dim});
  }
};

TEST_P(CacheReplayOnStorage, Mamba1DecodeAfterPrefillEqualsLongerPrefill) {
  std::mt19937 rng(3);
  CpuBackend cpu;
  const std::int64_t L = 5, k = 4;
  const Mamba1Model model(rng, L + k);
  const auto longer = model.prefill(cpu, L + k);
  const auto prefill = model.prefill(cpu, L);
  for (const DType dtype : kCacheDtypes) {
    MambaStateCache cache(
        MambaCacheConfig{2, 4, model.dim, model.d_state, model.kernel, dtype, dtype}, allocator());
    const std::int64_t layer = 1;
    const std::vector<std::int64_t> prefill_slots{3, 1};
    cache.update_conv_windows(layer, prefill_slots, slice_axis(model.x, 2, 0, L));
    cache.scatter_ssm_states(layer, prefill_slots, prefill.last_state);
    cache.advance_positions(prefill_slots, L);
    const std::vector<std::int64_t> slots{kPadSlot, 1, 3}, inputs{-1, 1, 0};
    for (std::int64_t t = L; t < L + k; ++t) {
      const Tensor out = model.decode(cpu, t, cache, layer, slots, inputs);  // (3, dim)
      const Tensor expected = slice_axis(longer.out, 2, t, t + 1).reshaped({2, model.dim});
      EXPECT_LE(allclose_excess(rows(out, {2, 1}), expected, tolerance(dtype)), 0.0)
          << dtype_name(dtype) << " token " << t;
    }
    EXPECT_LE(allclose_excess(cache.gather_ssm_states(layer, prefill_slots).to(DType::float64),
                              longer.last_state, tolerance(dtype)),
              0.0);
    EXPECT_EQ(cache.position(3), L + k);
    EXPECT_EQ(cache.position(0), 0);
  }
}

// ------------------------------------------------------------------ lightning attention

TEST_P(CacheReplayOnStorage, LinearAttentionChunkedPrefillAndDecodeEqualOneShot) {
  std::mt19937 rng(4);
  CpuBackend cpu;
  const std::int64_t B = 2, H = 3, L = 9, K = 4, V = 5;
  LightningAttentionParams whole;
  whole.batch = B, whole.nheads = H, whole.seqlen = L, whole.key_dim = K, whole.value_dim = V;
  whole.q = random_tensor({B, H, L, K}, rng);
  whole.k = random_tensor({B, H, L, K}, rng);
  whole.v = random_tensor({B, H, L, V}, rng);
  whole.slope = random_tensor({H}, rng, 0.05, 1.0);
  const auto expected = cpu.call(whole);
  // A chunked prefill, then one-token chunks: decode is the same op on the cached state.
  const std::vector<std::int64_t> bounds{0, 3, 6, 7, 8, 9};
  for (const DType dtype : kCacheDtypes) {
    LinearAttentionStateCache cache({1, 2, H, K, V, dtype}, allocator());
    const std::vector<std::int64_t> slots{1, 0};
    for (std::size_t i = 0; i + 1 < bounds.size(); ++i) {
      const std::int64_t t0 = bounds[i], t1 = bounds[i + 1];
      LightningAttentionParams p = whole;
      p.seqlen = t1 - t0;
      p.q = slice_axis(whole.q, 2, t0, t1);
      p.k = slice_axis(whole.k, 2, t0, t1);
      p.v = slice_axis(whole.v, 2, t0, t1);
      p.initial_state = cache.gather_states(0, slots).to(DType::float64);
      const auto r = cpu.call(p);
      cache.scatter_states(0, slots, r.final_state);
      cache.advance_positions(slots, t1 - t0);
      EXPECT_LE(allclose_excess(r.out, slice_axis(expected.out, 2, t0, t1), tolerance(dtype)), 0.0)
          << dtype_name(dtype) << " chunk [" << t0 << ", " << t1 << ")";
    }
    EXPECT_LE(allclose_excess(cache.gather_states(0, slots).to(DType::float64),
                              expected.final_state, tolerance(dtype)),
              0.0);
    EXPECT_EQ(cache.position(1), L);
  }
}

}  // namespace
}  // namespace ssmkit
