#include <cmath>

#include "case_util.hpp"

namespace ssmkit {
namespace {

class ChunkScanCase : public OpCase {
 public:
  explicit ChunkScanCase(const GoldenCase& g) {
    ShapeBinder s(g);
    p_.x = detail::f64(s.require("x", {"B", "L", "H", "P"}));
    p_.dt = detail::f64(s.require("dt", {"B", "L", "H"}));
    p_.A = detail::f64(s.require("A", {"H"}));
    p_.B = detail::f64(s.require("B", {"B", "L", "G", "N"}));
    p_.C = detail::f64(s.require("C", {"B", "L", "G", "N"}));
    s.require_divisible("H", "G");
    const int d_layout = s.one_of("D", {{"H", "P"}, {"H"}}, false);
    if (d_layout >= 0) {
      p_.D = d_layout == 1 ? detail::repeat_last(*g.input("D"), s.size("P"))
                           : detail::f64(g.input("D"));
    }
    p_.z = detail::f64(s.optional("z", {"B", "L", "H", "P"}));
    p_.dt_bias = detail::f64(s.optional("dt_bias", {"H"}));
    p_.initial_states = detail::f64(s.optional("initial_states", {"B", "H", "P", "N"}));
    p_.batch = s.size("B");
    p_.seqlen = s.size("L");
    p_.nheads = s.size("H");
    p_.headdim = s.size("P");
    p_.ngroups = s.size("G");
    p_.dstate = s.size("N");

    p_.chunk_size = g.integer("chunk_size", 256);
    if (p_.chunk_size <= 0) {
      s.fail("attribute 'chunk_size'", "expected a positive integer, got " +
                                           std::to_string(p_.chunk_size));
    }
    p_.dt_softplus = g.flag("dt_softplus", false);
    const auto limit = g.numbers("dt_limit", {0.0, INFINITY});
    if (limit.size() != 2 || std::isnan(limit[0]) || std::isnan(limit[1]) ||
        limit[0] > limit[1]) {
      s.fail("attribute 'dt_limit'", "expected two numbers (min, max) with min <= max");
    }
    p_.dt_min = limit[0];
    p_.dt_max = limit[1];
    p_.input_dtype = g.input_dtype;
    read_sequences(g, s);
    summary_ = detail::dims_summary(s, {"B", "L", "H", "P", "N", "G"}) + " Q=" +
               std::to_string(p_.chunk_size) +
               (p_.cu_seqlens.empty() ? "" : " seqs=" + std::to_string(p_.cu_seqlens.size() - 1)) +
               (p_.D.defined() ? "" : " noD") + (p_.z.defined() ? " z" : "");
  }

  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    return OpDescriptor<ChunkScanParams>::outputs(backend.call(p_));
  }

 private:
  // seq_idx and cu_seqlens describe the same packing; either may come alone.
  void read_sequences(const GoldenCase& g, ShapeBinder& s) {
    if (g.input("seq_idx")) {
      s.require_integer("seq_idx");
      s.require("seq_idx", {"B", "L"});
      p_.seq_idx = detail::to_indices(*g.input("seq_idx"));
    }
    p_.cu_seqlens = detail::packed_offsets(g, s, p_.batch, p_.seqlen);
    if (p_.cu_seqlens.empty()) return;
    const auto& cu = p_.cu_seqlens;
    if (p_.seq_idx.empty()) {
      p_.seq_idx.resize(static_cast<std::size_t>(p_.seqlen));
      for (std::size_t sq = 0; sq + 1 < cu.size(); ++sq) {
        for (auto t = cu[sq]; t < cu[sq + 1]; ++t) p_.seq_idx[t] = static_cast<std::int64_t>(sq);
      }
      return;
    }
    for (std::size_t sq = 0; sq + 1 < cu.size(); ++sq) {
      for (auto t = cu[sq] + 1; t < cu[sq + 1]; ++t) {
        if (p_.seq_idx[t] != p_.seq_idx[cu[sq]]) {
          s.fail("inputs/seq_idx", "disagrees with cu_seqlens inside sequence " +
                                       std::to_string(sq) + " at position " + std::to_string(t));
        }
      }
      if (sq > 0 && p_.seq_idx[cu[sq]] == p_.seq_idx[cu[sq] - 1]) {
        s.fail("inputs/seq_idx", "does not change where cu_seqlens starts sequence " +
                                     std::to_string(sq));
      }
    }
  }

  ChunkScanParams p_;
  std::string summary_;
};

}  // namespace

template <>
std::unique_ptr<OpCase> OpDescriptor<ChunkScanParams>::golden_case(const GoldenCase& g) {
  return std::make_unique<ChunkScanCase>(g);
}

// ---- mamba_chunk_scan_combined: what bench, the check and the tolerance know -------------

template <>
ToleranceClass OpDescriptor<ChunkScanParams>::tolerance_class() {
  return ToleranceClass::accumulating;
}
template <>
NamedTensors OpDescriptor<ChunkScanParams>::outputs(const ChunkScanResult& r) {
  NamedTensors out = {{"out", r.out}, {"final_states", r.final_states}};
  if (r.varlen_states.defined()) out["varlen_states"] = r.varlen_states;
  return out;
}
template <>
bench::Traffic OpDescriptor<ChunkScanParams>::traffic(const ChunkScanParams& p) {
  using namespace bench;
  const double a = act_bytes(p.input_dtype), B = p.batch, L = p.seqlen, H = p.nheads,
               P = p.headdim, N = p.dstate, G = p.ngroups,
               Q = static_cast<double>(std::min(p.chunk_size, p.seqlen));
  Traffic t;
  t.bytes = a * (B * L * H * P + B * L * H + 2 * B * L * G * N + n_or0(p.z)) +
            4.0 * (H + n_or0(p.D) + n_or0(p.dt_bias) + n_or0(p.initial_states)) +
            a * B * L * H * P + 4.0 * B * H * P * N;
  // SSD per chunk: C.B^T per group (2QN per token), the masked intra-chunk product
  // (2QP per token and head), chunk states and their read-out (2PN each).
  t.flops = B * L * (G * 2 * Q * N + H * (2 * Q * P + 4 * P * N));
  t.formula =
      "bytes = a*(x + dt + B + C + z) + 4*(A + D + dt_bias + initial_states) + a*out + "
      "4*final_states; flops = B*L*(G*2QN + H*(2QP + 4PN)) (chunked SSD)";
  return t;
}
template <>
ChunkScanParams OpDescriptor<ChunkScanParams>::random_call(const bench::BenchCase& c) {
  bench::RandomInputs gen(c.seed);
  const DType act = c.dtype, param = bench::kParamDtype;
  ChunkScanParams p;
  p.batch = c.dims.at("batch"), p.seqlen = c.dims.at("seqlen"), p.nheads = c.dims.at("nheads");
  p.headdim = c.dims.at("headdim"), p.ngroups = c.dims.at("ngroups"), p.dstate = c.dims.at("dstate");
  p.chunk_size = c.dims.at("chunk_size"), p.dt_softplus = true, p.input_dtype = act;
  const Shape blhp = {p.batch, p.seqlen, p.nheads, p.headdim};
  const Shape blgn = {p.batch, p.seqlen, p.ngroups, p.dstate};
  p.x = gen(blhp, -1, 1, act);
  p.dt = gen({p.batch, p.seqlen, p.nheads}, -4, -1, act);
  p.A = gen({p.nheads}, -8, -1, param);
  p.B = gen(blgn, -1, 1, act);
  p.C = gen(blgn, -1, 1, act);
  // Mamba2's D is per head; the params take it per (head, channel).
  p.D = detail::repeat_last(gen({p.nheads}, -1, 1, param), p.headdim);
  p.z = gen(blhp, -1, 1, act);
  p.dt_bias = gen({p.nheads}, 0, 0.5, param);
  if (detail::case_option(c, "initial_states")) {
    p.initial_states = gen({p.batch, p.nheads, p.headdim, p.dstate}, -1, 1, act);
  }
  // Packed sequences (batch 1): the sequence split into near-equal parts.
  if (const std::int64_t seqs = detail::case_option(c, "varlen_seqs"); seqs > 0) {
    for (std::int64_t s = 0; s <= seqs; ++s) p.cu_seqlens.push_back(s * p.seqlen / seqs);
    p.seq_idx.resize(static_cast<std::size_t>(p.seqlen));
    for (std::int64_t s = 0; s < seqs; ++s) {
      for (auto t = p.cu_seqlens[s]; t < p.cu_seqlens[s + 1]; ++t) p.seq_idx[t] = s;
    }
  }
  return p;
}
template <>
void OpDescriptor<ChunkScanParams>::bench_cases(const bench::ShapePreset& preset,
                                                const bench::SweepOptions& sweep, DType dtype,
                                                bench::CaseList& cases) {
  using bench::CaseList;
  if (!preset.mamba2) return;
  const auto& m = *preset.mamba2;
  for (auto B : sweep.batches) {
    for (auto L : sweep.seqlens) {
      cases.add(name,
                {{"batch", B}, {"seqlen", L}, {"nheads", m.nheads}, {"headdim", m.headdim},
                 {"ngroups", m.ngroups}, {"dstate", m.d_state}, {"chunk_size", m.chunk_size}},
                CaseList::term("B", B) + " " + CaseList::term("L", L) + " " +
                    CaseList::term("H", m.nheads) + " " + CaseList::term("P", m.headdim) + " " +
                    CaseList::term("N", m.d_state) + " " + CaseList::term("G", m.ngroups) + " " +
                    CaseList::term("Q", m.chunk_size),
                dtype, {}, false);
    }
  }
}
template <>
CheckUnits OpDescriptor<ChunkScanParams>::check_units(const ChunkScanParams& p) {
  CheckUnits u{p.batch, p.nheads, p.nheads / p.ngroups, "heads"};
  // Packed sequences carry state across batch rows' boundaries: compared whole.
  u.sliceable = p.seq_idx.empty() && p.cu_seqlens.empty();
  return u;
}
template <>
ChunkScanParams OpDescriptor<ChunkScanParams>::slice(const ChunkScanParams& call, const bench::Slice& s) {
  using bench::cut;
  const bench::Range b{s.batch_row, 1}, u{s.first, s.count}, all{}, g{call.ngroups - 1, 1};
  ChunkScanParams p = call;
  p.x = cut(p.x, {b, all, u}), p.z = cut(p.z, {b, all, u}), p.dt = cut(p.dt, {b, all, u});
  p.B = cut(p.B, {b, all, g}), p.C = cut(p.C, {b, all, g});
  p.A = cut(p.A, {u}), p.D = cut(p.D, {u}), p.dt_bias = cut(p.dt_bias, {u});
  p.initial_states = cut(p.initial_states, {b, u});
  p.batch = 1, p.nheads = s.count, p.ngroups = 1;
  return p;
}
template <>
NamedTensors OpDescriptor<ChunkScanParams>::slice_outputs(const ChunkScanParams&,
                                                          const NamedTensors& outputs,
                                                          const bench::Slice& s) {
  const bench::Range b{s.batch_row, 1}, u{s.first, s.count}, all{};
  NamedTensors r;
  // out is (B, L, H, P): heads are its third axis; the states lead with (B, H).
  for (const auto& [name, t] : outputs) {
    r[name] = bench::cut(t, name == "out" ? std::vector<bench::Range>{b, all, u}
                                          : std::vector<bench::Range>{b, u});
  }
  return r;
}

// ---- golden names and calls ---------------------------------------------------------------

template <>
GoldenNames OpDescriptor<ChunkScanParams>::golden_names() {
  return {{"x", "dt", "A", "B", "C", "D", "z", "dt_bias", "initial_states", "seq_idx", "cu_seqlens"},
          {"out", "final_states", "varlen_states"},
          {"chunk_size", "dt_softplus", "dt_limit"}};
}
template <>
GoldenCall OpDescriptor<ChunkScanParams>::golden_call(const ChunkScanParams& p) {
  GoldenCall call = detail::golden_call_in(p.input_dtype);
  for (const auto& [name, t] : {std::pair{"x", &p.x}, {"dt", &p.dt}, {"A", &p.A}, {"B", &p.B},
                                {"C", &p.C}, {"D", &p.D}, {"z", &p.z}, {"dt_bias", &p.dt_bias},
                                {"initial_states", &p.initial_states}}) {
    detail::put_input(call, name, *t);
  }
  detail::put_indices(call, "seq_idx", p.seq_idx, {p.batch, p.seqlen});
  detail::put_indices(call, "cu_seqlens", p.cu_seqlens,
                      {static_cast<std::int64_t>(p.cu_seqlens.size())});
  call.attrs["chunk_size"] = detail::attr_number(static_cast<double>(p.chunk_size));
  call.attrs["dt_softplus"] = detail::attr_number(p.dt_softplus);
  call.attrs["dt_limit"] = std::vector<double>{p.dt_min, p.dt_max};
  return call;
}

}  // namespace ssmkit
