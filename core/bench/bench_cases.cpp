#include <algorithm>
#include <thread>

#include "ssmkit/bench/bench_case.hpp"

namespace ssmkit::bench {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [lo, hi), rounded to `dtype` so that every backend sees the same values; the
// bounds are chosen away from zero or wide enough that zeros are vanishingly rare. Filled
// in parallel chunks with their own streams: the same seed gives the same tensor.
Tensor random(Shape shape, double lo, double hi, DType dtype, std::uint64_t seed) {
  Tensor t(DType::float64, std::move(shape));
  auto values = t.span<double>();
  const std::size_t n = values.size();
  constexpr std::size_t kChunk = 1 << 20;
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  auto fill = [&](std::size_t first_chunk, std::size_t step) {
    for (std::size_t c = first_chunk; c < chunks; c += step) {
      std::uint64_t state = seed * 0x100000001b3ULL + c;
      const std::size_t end = std::min(n, (c + 1) * kChunk);
      for (std::size_t i = c * kChunk; i < end; ++i) {
        const double u = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
        values[i] = round_to_dtype(lo + (hi - lo) * u, dtype);
      }
    }
  };
  const std::size_t threads =
      std::min<std::size_t>(chunks, std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (std::size_t k = 1; k < threads; ++k) pool.emplace_back(fill, k, threads);
  fill(0, std::max<std::size_t>(threads, 1));
  for (auto& th : pool) th.join();
  return t;
}

constexpr DType kParam = DType::float32;

// 0..n-1 in a seeded random order (Fisher-Yates).
std::vector<std::int64_t> shuffled(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  std::uint64_t state = seed;
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(splitmix64(state) % static_cast<std::uint64_t>(i + 1));
    std::swap(v[static_cast<std::size_t>(i)], v[static_cast<std::size_t>(j)]);
  }
  return v;
}

struct Gen {
  std::uint64_t seed;
  int next = 0;
  Tensor operator()(Shape shape, double lo, double hi, DType dtype) {
    return random(std::move(shape), lo, hi, dtype, seed * 131 + static_cast<std::uint64_t>(next++));
  }
};

std::string dname(DType d) { return std::string(dtype_name(d)); }

std::string short_dtype(DType d) {
  switch (d) {
    case DType::float32: return "f32";
    case DType::bfloat16: return "bf16";
    case DType::float16: return "f16";
    default: return dname(d);
  }
}

}  // namespace

OpParams BenchCase::make_params() const {
  Gen gen{seed};
  auto dim = [&](const char* k) { return dims.at(k); };
  const DType act = dtype;
  if (op == "causal_conv1d") {
    CausalConv1dParams p;
    p.batch = dim("batch"), p.dim = dim("dim"), p.seqlen = dim("seqlen"), p.width = dim("width");
    p.silu = true, p.input_dtype = act;
    p.x = gen({p.batch, p.dim, p.seqlen}, -1, 1, act);
    p.weight = gen({p.dim, p.width}, -0.5, 0.5, kParam);
    p.bias = gen({p.dim}, -0.1, 0.1, kParam);
    return p;
  }
  if (op == "causal_conv1d_update") {
    CausalConv1dUpdateParams p;
    p.batch = dim("batch"), p.dim = dim("dim"), p.seqlen = 1, p.width = dim("width");
    p.state_len = dim("state_len"), p.silu = true, p.input_dtype = act;
    p.x = gen({p.batch, p.dim, 1}, -1, 1, act);
    p.conv_state = gen({p.batch, p.dim, p.state_len}, -1, 1, act);
    p.weight = gen({p.dim, p.width}, -0.5, 0.5, kParam);
    p.bias = gen({p.dim}, -0.1, 0.1, kParam);
    return p;
  }
  if (op == "selective_scan") {
    SelectiveScanParams p;
    p.batch = dim("batch"), p.dim = dim("dim"), p.seqlen = dim("seqlen");
    p.dstate = dim("dstate"), p.ngroups = dim("ngroups"), p.delta_softplus = true;
    p.input_dtype = act;
    const Shape bdl = {p.batch, p.dim, p.seqlen}, bc = {p.batch, p.ngroups, p.dstate, p.seqlen};
    p.u = gen(bdl, -1, 1, act);
    p.delta = gen(bdl, -4, -1, act);
    p.A = gen({p.dim, p.dstate}, -2, -0.1, kParam);
    p.B = gen(bc, -1, 1, act);
    p.C = gen(bc, -1, 1, act);
    p.D = gen({p.dim}, -1, 1, kParam);
    p.z = gen(bdl, -1, 1, act);
    p.delta_bias = gen({p.dim}, 0, 0.5, kParam);
    return p;
  }
  if (op == "selective_state_update") {
    SelectiveStateUpdateParams p;
    p.batch = dim("batch"), p.nheads = dim("nheads"), p.headdim = dim("headdim");
    p.dstate = dim("dstate"), p.ngroups = dim("ngroups"), p.state_slots = p.batch;
    p.dt_softplus = true, p.input_dtype = act, p.state_dtype = state_dtype.value_or(kParam);
    const Shape bhp = {p.batch, p.nheads, p.headdim};
    p.state = gen({p.batch, p.nheads, p.headdim, p.dstate}, -1, 1, p.state_dtype);
    p.x = gen(bhp, -1, 1, act);
    p.B = gen({p.batch, p.ngroups, p.dstate}, -1, 1, act);
    p.C = gen({p.batch, p.ngroups, p.dstate}, -1, 1, act);
    p.z = gen(bhp, -1, 1, act);
    if (dim("per_head") != 0) {  // Mamba2: dt, A, D, dt_bias per head
      p.dt = gen({p.batch, p.nheads}, -4, -1, act);
      p.A = gen({p.nheads}, -8, -1, kParam);
      p.D = gen({p.nheads}, -1, 1, kParam);
      p.dt_bias = gen({p.nheads}, 0, 0.5, kParam);
    } else {  // Mamba1: per channel, A per (channel, state)
      p.dt = gen(bhp, -4, -1, act);
      p.A = gen({p.nheads, p.headdim, p.dstate}, -2, -0.1, kParam);
      p.D = gen({p.nheads, p.headdim}, -1, 1, kParam);
      p.dt_bias = gen({p.nheads, p.headdim}, 0, 0.5, kParam);
    }
    return p;
  }
  if (op == "mamba_chunk_scan_combined") {
    ChunkScanParams p;
    p.batch = dim("batch"), p.seqlen = dim("seqlen"), p.nheads = dim("nheads");
    p.headdim = dim("headdim"), p.ngroups = dim("ngroups"), p.dstate = dim("dstate");
    p.chunk_size = dim("chunk_size"), p.dt_softplus = true, p.input_dtype = act;
    const Shape blhp = {p.batch, p.seqlen, p.nheads, p.headdim};
    const Shape blgn = {p.batch, p.seqlen, p.ngroups, p.dstate};
    p.x = gen(blhp, -1, 1, act);
    p.dt = gen({p.batch, p.seqlen, p.nheads}, -4, -1, act);
    p.A = gen({p.nheads}, -8, -1, kParam);
    p.B = gen(blgn, -1, 1, act);
    p.C = gen(blgn, -1, 1, act);
    // Mamba2's D is per head; the params take it per (head, channel).
    Tensor d_head = gen({p.nheads}, -1, 1, kParam);
    p.D = Tensor(DType::float64, {p.nheads, p.headdim});
    for (std::int64_t h = 0; h < p.nheads; ++h) {
      for (std::int64_t q = 0; q < p.headdim; ++q) {
        p.D.span<double>()[h * p.headdim + q] = d_head.span<double>()[h];
      }
    }
    p.z = gen(blhp, -1, 1, act);
    p.dt_bias = gen({p.nheads}, 0, 0.5, kParam);
    return p;
  }
  if (op == "gated_rmsnorm") {
    GatedRmsNormParams p;
    p.rows = dim("rows"), p.dim = dim("dim"), p.group_size = dim("group_size");
    p.eps = 1e-5, p.norm_before_gate = false, p.input_dtype = act;
    p.x = gen({p.rows, p.dim}, -1, 1, act);
    p.z = gen({p.rows, p.dim}, -1, 1, act);
    p.weight = gen({p.dim}, 0.5, 1.5, kParam);
    return p;
  }
  if (op == "lightning_attention") {
    LightningAttentionParams p;
    p.batch = dim("batch"), p.nheads = dim("nheads"), p.seqlen = dim("seqlen");
    p.key_dim = dim("key_dim"), p.value_dim = dim("value_dim"), p.input_dtype = act;
    p.q = gen({p.batch, p.nheads, p.seqlen, p.key_dim}, -1, 1, act);
    p.k = gen({p.batch, p.nheads, p.seqlen, p.key_dim}, -1, 1, act);
    p.v = gen({p.batch, p.nheads, p.seqlen, p.value_dim}, -1, 1, act);
    p.slope = gen({p.nheads}, 0.05, 1.0, kParam);
    return p;
  }
  if (op == "paged_kv_write") {
    // Tokens fill whole pages of a shuffled pool (decode: one token per sequence, each at
    // its own page), as an engine's page manager leaves them.
    PagedKvWriteParams p;
    p.num_tokens = dim("tokens"), p.page_size = dim("page_size"), p.kv_heads = dim("kv_heads");
    p.head_dim = dim("head_dim"), p.input_dtype = act;
    const bool decode = dim("decode") != 0;
    const std::int64_t pages_used = decode ? p.num_tokens : (p.num_tokens + p.page_size - 1) / p.page_size;
    p.num_pages = pages_used + 1;
    const auto pages = shuffled(p.num_pages, seed);
    std::uint64_t rng = seed;
    for (std::int64_t t = 0; t < p.num_tokens; ++t) {
      const std::int64_t offset = decode ? static_cast<std::int64_t>(splitmix64(rng) % p.page_size) : t % p.page_size;
      p.slot_mapping.push_back(pages[decode ? t : t / p.page_size] * p.page_size + offset);
    }
    const Shape rows = {p.num_tokens, p.kv_heads, p.head_dim};
    const Shape cache = {p.num_pages, p.page_size, p.kv_heads, p.head_dim};
    p.key = gen(rows, -1, 1, act), p.value = gen(rows, -1, 1, act);
    p.key_cache = gen(cache, -1, 1, act), p.value_cache = gen(cache, -1, 1, act);
    return p;
  }
  if (op == "paged_kv_gather") {
    PagedKvGatherParams p;
    p.batch = dim("batch"), p.page_size = dim("page_size"), p.kv_heads = dim("kv_heads");
    p.head_dim = dim("head_dim"), p.input_dtype = act, p.max_len = dim("seqlen");
    p.max_pages_per_seq = (p.max_len + p.page_size - 1) / p.page_size;
    p.num_pages = p.batch * p.max_pages_per_seq + 1;
    const auto pages = shuffled(p.num_pages, seed);
    for (std::int64_t i = 0; i < p.batch * p.max_pages_per_seq; ++i) p.block_tables.push_back(pages[i]);
    p.seq_lens.assign(static_cast<std::size_t>(p.batch), p.max_len);
    const Shape cache = {p.num_pages, p.page_size, p.kv_heads, p.head_dim};
    p.key_cache = gen(cache, -1, 1, act), p.value_cache = gen(cache, -1, 1, act);
    return p;
  }
  throw std::logic_error("bench: no generator for op " + op);
}

std::vector<BenchCase> make_cases(const ShapePreset& preset, const SweepOptions& sweep) {
  std::vector<BenchCase> cases;
  auto wanted = [&](const std::string& op) {
    return sweep.ops.empty() || std::find(sweep.ops.begin(), sweep.ops.end(), op) != sweep.ops.end();
  };
  auto add = [&](const std::string& op, std::map<std::string, std::int64_t> dims,
                 const std::string& shape, DType dtype, std::optional<DType> state, bool decode) {
    BenchCase c;
    c.op = op, c.preset = preset.name, c.dims = std::move(dims), c.shape = shape;
    c.dtype = dtype, c.state_dtype = state, c.decode = decode;
    c.name = op + "/" + preset.name + "/" + shape + "/" + short_dtype(dtype) +
             (state ? "/state=" + short_dtype(*state) : "");
    for (char& ch : c.name) {
      if (ch == ' ') ch = '/';
    }
    c.seed = std::hash<std::string>{}(c.name);
    // Sweeps can meet one case twice (gated_rmsnorm's rows = B x L from (1, 32) and (2, 16)).
    const bool seen = std::any_of(cases.begin(), cases.end(), [&](const BenchCase& o) { return o.name == c.name; });
    if (!seen) cases.push_back(std::move(c));
  };
  auto S = [](const char* k, std::int64_t v) { return std::string(k) + "=" + std::to_string(v); };

  for (DType dt : sweep.dtypes) {
    std::vector<std::pair<std::int64_t, std::int64_t>> conv_dims;  // (dim, width)
    if (preset.mamba1) conv_dims.push_back({preset.mamba1->d_inner, preset.mamba1->d_conv});
    if (preset.mamba2) conv_dims.push_back({preset.mamba2->conv_dim(), preset.mamba2->d_conv});
    for (auto [D, W] : conv_dims) {
      for (auto B : sweep.batches) {
        for (auto L : sweep.seqlens) {
          if (wanted("causal_conv1d")) {
            add("causal_conv1d", {{"batch", B}, {"dim", D}, {"seqlen", L}, {"width", W}},
                S("B", B) + " " + S("D", D) + " " + S("L", L) + " " + S("W", W), dt, {}, false);
          }
        }
      }
      for (auto B : sweep.decode_batches) {
        if (wanted("causal_conv1d_update")) {
          add("causal_conv1d_update",
              {{"batch", B}, {"dim", D}, {"width", W}, {"state_len", W - 1}},
              S("B", B) + " " + S("D", D) + " " + S("W", W) + " " + S("S", W - 1), dt, {}, true);
        }
      }
    }
    if (preset.mamba1 && wanted("selective_scan")) {
      const auto& m = *preset.mamba1;
      for (auto B : sweep.batches) {
        for (auto L : sweep.seqlens) {
          add("selective_scan",
              {{"batch", B}, {"dim", m.d_inner}, {"seqlen", L}, {"dstate", m.d_state}, {"ngroups", 1}},
              S("B", B) + " " + S("D", m.d_inner) + " " + S("L", L) + " " + S("N", m.d_state), dt,
              {}, false);
        }
      }
    }
    if (wanted("selective_state_update")) {
      for (DType st : sweep.state_dtypes) {
        for (auto B : sweep.decode_batches) {
          if (preset.mamba1) {
            const auto& m = *preset.mamba1;
            add("selective_state_update",
                {{"batch", B}, {"nheads", 1}, {"headdim", m.d_inner}, {"dstate", m.d_state},
                 {"ngroups", 1}, {"per_head", 0}},
                S("B", B) + " " + S("D", m.d_inner) + " " + S("N", m.d_state), dt, st, true);
          }
          if (preset.mamba2) {
            const auto& m = *preset.mamba2;
            add("selective_state_update",
                {{"batch", B}, {"nheads", m.nheads}, {"headdim", m.headdim}, {"dstate", m.d_state},
                 {"ngroups", m.ngroups}, {"per_head", 1}},
                S("B", B) + " " + S("H", m.nheads) + " " + S("P", m.headdim) + " " +
                    S("N", m.d_state) + " " + S("G", m.ngroups),
                dt, st, true);
          }
        }
      }
    }
    if (preset.mamba2) {
      const auto& m = *preset.mamba2;
      for (auto B : sweep.batches) {
        for (auto L : sweep.seqlens) {
          if (wanted("mamba_chunk_scan_combined")) {
            add("mamba_chunk_scan_combined",
                {{"batch", B}, {"seqlen", L}, {"nheads", m.nheads}, {"headdim", m.headdim},
                 {"ngroups", m.ngroups}, {"dstate", m.d_state}, {"chunk_size", m.chunk_size}},
                S("B", B) + " " + S("L", L) + " " + S("H", m.nheads) + " " + S("P", m.headdim) +
                    " " + S("N", m.d_state) + " " + S("G", m.ngroups) + " " + S("Q", m.chunk_size),
                dt, {}, false);
          }
          if (wanted("gated_rmsnorm")) {
            add("gated_rmsnorm",
                {{"batch", B}, {"seqlen", L}, {"rows", B * L}, {"dim", m.d_inner()},
                 {"group_size", m.d_inner() / m.ngroups}},
                S("rows", B * L) + " " + S("D", m.d_inner()) + " " +
                    S("group", m.d_inner() / m.ngroups),
                dt, {}, false);
          }
        }
      }
    }
    if (preset.attention) {
      const auto& m = *preset.attention;
      const std::map<std::string, std::int64_t> kv = {
          {"kv_heads", m.kv_heads}, {"head_dim", m.head_dim}, {"page_size", m.page_size}};
      auto with = [&](std::map<std::string, std::int64_t> d) {
        d.insert(kv.begin(), kv.end());
        return d;
      };
      const std::string kv_shape = S("KVH", m.kv_heads) + " " + S("HD", m.head_dim) + " " + S("page", m.page_size);
      for (auto B : sweep.batches) {
        for (auto L : sweep.seqlens) {
          if (wanted("paged_kv_write")) {
            add("paged_kv_write", with({{"tokens", B * L}, {"decode", 0}}),
                S("T", B * L) + " " + kv_shape + " prefill", dt, {}, false);
          }
          if (wanted("paged_kv_gather")) {
            add("paged_kv_gather", with({{"batch", B}, {"seqlen", L}}),
                S("B", B) + " " + S("L", L) + " " + kv_shape, dt, {}, false);
          }
        }
      }
      for (auto B : sweep.decode_batches) {
        if (wanted("paged_kv_write")) {
          add("paged_kv_write", with({{"tokens", B}, {"decode", 1}}), S("T", B) + " " + kv_shape + " decode",
              dt, {}, true);
        }
      }
    }
    if (preset.lightning && wanted("lightning_attention")) {
      const auto& m = *preset.lightning;
      for (auto B : sweep.batches) {
        for (auto L : sweep.seqlens) {
          add("lightning_attention",
              {{"batch", B}, {"nheads", m.nheads}, {"seqlen", L}, {"key_dim", m.key_dim},
               {"value_dim", m.value_dim}},
              S("B", B) + " " + S("H", m.nheads) + " " + S("L", L) + " " + S("K", m.key_dim) +
                  " " + S("V", m.value_dim),
              dt, {}, false);
        }
      }
    }
  }
  return cases;
}

}  // namespace ssmkit::bench
