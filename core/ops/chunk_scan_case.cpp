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
    auto r = backend.mamba_chunk_scan_combined(p_);
    NamedTensors out = {{"out", r.out}, {"final_states", r.final_states}};
    if (r.varlen_states.defined()) out["varlen_states"] = r.varlen_states;
    return out;
  }

 private:
  // seq_idx and cu_seqlens describe the same packing; either may come alone.
  void read_sequences(const GoldenCase& g, ShapeBinder& s) {
    if (g.input("seq_idx")) {
      s.require_integer("seq_idx");
      s.require("seq_idx", {"B", "L"});
      p_.seq_idx = detail::to_indices(*g.input("seq_idx"));
    }
    if (!g.input("cu_seqlens")) return;
    s.require_integer("cu_seqlens");
    s.require("cu_seqlens", {"S+1"});
    p_.cu_seqlens = detail::to_indices(*g.input("cu_seqlens"));
    const auto& cu = p_.cu_seqlens;
    if (p_.batch != 1) s.fail("inputs/cu_seqlens", "packed sequences need batch B=1");
    if (cu.size() < 2 || cu.front() != 0 || cu.back() != p_.seqlen) {
      s.fail("inputs/cu_seqlens", "expected offsets from 0 to L=" + std::to_string(p_.seqlen));
    }
    for (std::size_t i = 1; i < cu.size(); ++i) {
      if (cu[i] <= cu[i - 1]) {
        s.fail("inputs/cu_seqlens", "offsets must increase strictly (sequence " +
                                        std::to_string(i - 1) + " is empty or negative)");
      }
    }
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

std::unique_ptr<OpCase> make_chunk_scan_case(const GoldenCase& g) {
  return std::make_unique<ChunkScanCase>(g);
}

}  // namespace ssmkit
