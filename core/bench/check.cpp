#include "ssmkit/bench/check.hpp"

#include <algorithm>
#include <cstring>

#include "ssmkit/backend.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/tolerance.hpp"

namespace ssmkit::bench {
namespace {

struct Range {
  std::int64_t start = 0, count = -1;  // count -1: the whole axis
};

// A float64 tensor cut along its leading axes (the remaining axes stay whole).
Tensor cut(const Tensor& t, const std::vector<Range>& ranges) {
  if (!t.defined()) return t;
  const Shape& in = t.shape();
  const std::size_t k = ranges.size();
  Shape out = in;
  for (std::size_t i = 0; i < k; ++i) {
    if (ranges[i].count >= 0) out[i] = ranges[i].count;
  }
  std::int64_t inner = 1;
  for (std::size_t i = k; i < in.size(); ++i) inner *= in[i];
  Tensor r(DType::float64, out);
  const double* src = t.span<double>().data();
  double* dst = r.span<double>().data();
  std::vector<std::int64_t> idx(k, 0);
  const std::int64_t outer = k == 0 ? 1 : shape_numel(Shape(out.begin(), out.begin() + static_cast<long>(k)));
  for (std::int64_t o = 0; o < outer; ++o) {
    std::int64_t off = 0;
    for (std::size_t i = 0; i < k; ++i) off = off * in[i] + ranges[i].start + idx[i];
    std::memcpy(dst + o * inner, src + off * inner, static_cast<std::size_t>(inner) * sizeof(double));
    for (std::size_t i = k; i-- > 0;) {
      if (++idx[i] < out[i]) break;
      idx[i] = 0;
    }
  }
  return r;
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// (batch, units, units per group, unit name) of an op.
struct Units {
  std::int64_t batch = 1, units = 1, per_group = 1;
  const char* name = "rows";
};

Units units_of(const OpParams& op) {
  return std::visit(
      Overloaded{
          [](const CausalConv1dParams& p) { return Units{p.batch, p.dim, p.dim, "channels"}; },
          [](const CausalConv1dUpdateParams& p) { return Units{p.batch, p.dim, p.dim, "channels"}; },
          [](const SelectiveScanParams& p) {
            return Units{p.batch, p.dim, p.dim / p.ngroups, "channels"};
          },
          [](const SelectiveStateUpdateParams& p) {
            return p.nheads == 1 ? Units{p.batch, p.headdim, p.headdim, "channels"}
                                 : Units{p.batch, p.nheads, p.nheads / p.ngroups, "heads"};
          },
          [](const ChunkScanParams& p) { return Units{p.batch, p.nheads, p.nheads / p.ngroups, "heads"}; },
          [](const GatedRmsNormParams& p) { return Units{1, p.rows, p.rows, "rows"}; },
          [](const LightningAttentionParams& p) { return Units{p.batch, p.nheads, p.nheads, "heads"}; },
          [](const PagedKvWriteParams&) { return Units{}; },
          [](const PagedKvGatherParams&) { return Units{}; },
          [](const MemoryCopyParams&) { return Units{}; },
      },
      op);
}

bool sliceable(const OpParams& op) {
  if (const auto* p = std::get_if<SelectiveStateUpdateParams>(&op)) return p->state_batch_indices.empty();
  if (const auto* p = std::get_if<ChunkScanParams>(&op)) return p->seq_idx.empty() && p->cu_seqlens.empty();
  // Paged KV ops are copies: the reference is cheap, so the whole result is compared.
  return !std::holds_alternative<PagedKvWriteParams>(op) && !std::holds_alternative<PagedKvGatherParams>(op);
}

DType tolerance_dtype(const OpParams& op) {
  return std::visit(
      [](const auto& p) -> DType {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, MemoryCopyParams>) {
          return DType::float32;
        } else if constexpr (std::is_same_v<P, SelectiveStateUpdateParams>) {
          // A state kept in bfloat16 is rounded like a bfloat16 activation.
          return p.state_dtype == DType::bfloat16 ? DType::bfloat16 : p.input_dtype;
        } else {
          return p.input_dtype;
        }
      },
      op);
}

}  // namespace

Slice choose_slice(const OpParams& op, double flop_budget) {
  const Units u = units_of(op);
  Slice s;
  s.units = u.units;
  const double per_unit = traffic(op).flops / static_cast<double>(std::max<std::int64_t>(1, u.batch * u.units));
  if (!sliceable(op) || std::holds_alternative<MemoryCopyParams>(op) ||
      per_unit * static_cast<double>(u.batch * u.units) <= flop_budget) {
    s.whole = true;
    s.batch_row = 0, s.first = 0, s.count = u.units;
    return s;
  }
  const auto fit = static_cast<std::int64_t>(flop_budget / std::max(per_unit, 1.0));
  s.count = std::clamp<std::int64_t>(fit, 1, u.per_group);
  s.first = u.units - s.count;  // the last units: inside the last group
  s.batch_row = u.batch - 1;
  return s;
}

OpParams slice_params(const OpParams& op, const Slice& s) {
  if (s.whole) return op;
  const Range b{s.batch_row, 1}, u{s.first, s.count}, all{};
  return std::visit(
      Overloaded{
          [&](CausalConv1dParams p) -> OpParams {
            p.x = cut(p.x, {b, u}), p.weight = cut(p.weight, {u}), p.bias = cut(p.bias, {u});
            p.initial_states = cut(p.initial_states, {b, u});
            p.batch = 1, p.dim = s.count;
            return p;
          },
          [&](CausalConv1dUpdateParams p) -> OpParams {
            p.x = cut(p.x, {b, u}), p.conv_state = cut(p.conv_state, {b, u});
            p.weight = cut(p.weight, {u}), p.bias = cut(p.bias, {u});
            p.batch = 1, p.dim = s.count;
            return p;
          },
          [&](SelectiveScanParams p) -> OpParams {
            const Range g{p.ngroups - 1, 1};
            p.u = cut(p.u, {b, u}), p.delta = cut(p.delta, {b, u}), p.z = cut(p.z, {b, u});
            p.A = cut(p.A, {u}), p.D = cut(p.D, {u}), p.delta_bias = cut(p.delta_bias, {u});
            p.B = cut(p.B, {b, g}), p.C = cut(p.C, {b, g});
            p.batch = 1, p.dim = s.count, p.ngroups = 1;
            return p;
          },
          [&](SelectiveStateUpdateParams p) -> OpParams {
            const Range g{p.ngroups - 1, 1};
            p.B = cut(p.B, {b, g}), p.C = cut(p.C, {b, g});
            if (p.nheads == 1) {  // Mamba1: units are the channels of the single head
              p.state = cut(p.state, {b, all, u}), p.x = cut(p.x, {b, all, u});
              p.z = cut(p.z, {b, all, u}), p.dt = cut(p.dt, {b, all, u});
              p.A = cut(p.A, {all, u}), p.D = cut(p.D, {all, u}), p.dt_bias = cut(p.dt_bias, {all, u});
              p.headdim = s.count;
            } else {
              p.state = cut(p.state, {b, u}), p.x = cut(p.x, {b, u}), p.z = cut(p.z, {b, u});
              p.dt = cut(p.dt, {b, u}), p.A = cut(p.A, {u}), p.D = cut(p.D, {u});
              p.dt_bias = cut(p.dt_bias, {u});
              p.nheads = s.count;
            }
            p.batch = 1, p.state_slots = 1, p.ngroups = 1;
            return p;
          },
          [&](ChunkScanParams p) -> OpParams {
            const Range g{p.ngroups - 1, 1};
            p.x = cut(p.x, {b, all, u}), p.z = cut(p.z, {b, all, u}), p.dt = cut(p.dt, {b, all, u});
            p.B = cut(p.B, {b, all, g}), p.C = cut(p.C, {b, all, g});
            p.A = cut(p.A, {u}), p.D = cut(p.D, {u}), p.dt_bias = cut(p.dt_bias, {u});
            p.initial_states = cut(p.initial_states, {b, u});
            p.batch = 1, p.nheads = s.count, p.ngroups = 1;
            return p;
          },
          [&](GatedRmsNormParams p) -> OpParams {
            p.x = cut(p.x, {u}), p.z = cut(p.z, {u});
            p.rows = s.count;
            return p;
          },
          [&](LightningAttentionParams p) -> OpParams {
            p.q = cut(p.q, {b, u}), p.k = cut(p.k, {b, u}), p.v = cut(p.v, {b, u});
            p.slope = cut(p.slope, {u}), p.initial_state = cut(p.initial_state, {b, u});
            p.batch = 1, p.nheads = s.count;
            return p;
          },
          [&](MemoryCopyParams p) -> OpParams { return p; },
          [&](auto p) -> OpParams { return p; },  // paged KV: never sliced
      },
      op);
}

NamedTensors slice_outputs(const OpParams& op, const NamedTensors& outputs, const Slice& s) {
  if (s.whole) return outputs;
  const Range b{s.batch_row, 1}, u{s.first, s.count}, all{};
  std::vector<Range> ranges;
  if (std::holds_alternative<GatedRmsNormParams>(op)) {
    ranges = {u};
  } else if (const auto* p = std::get_if<SelectiveStateUpdateParams>(&op); p && p->nheads == 1) {
    ranges = {b, all, u};
  } else {
    ranges = {b, u};
  }
  NamedTensors r;
  for (const auto& [name, t] : outputs) {
    // Chunk scan's out is (B, L, H, P): heads are its third axis.
    const bool time_major = std::holds_alternative<ChunkScanParams>(op) && name == "out";
    r[name] = cut(t, time_major ? std::vector<Range>{b, all, u} : ranges);
  }
  return r;
}

CheckResult check_outputs(const OpParams& op, const NamedTensors& outputs, Backend& reference,
                          double flop_budget) {
  CheckResult result;
  const Slice s = choose_slice(op, flop_budget);
  const Units units = units_of(op);
  result.slice = s.whole ? "all outputs"
                         : "batch row " + std::to_string(s.batch_row) + " of " +
                               std::to_string(units.batch) + ", " + units.name + " " +
                               std::to_string(s.first) + ".." + std::to_string(s.first + s.count - 1) +
                               " of " + std::to_string(s.units);
  result.tolerance = default_tolerance(op_name(op), tolerance_dtype(op));
  const NamedTensors expected = run_op(reference, slice_params(op, s));
  const NamedTensors actual = slice_outputs(op, outputs, s);
  for (const auto& [name, want] : expected) {
    auto it = actual.find(name);
    if (it == actual.end()) {
      result.passed = false;
      if (result.message.empty()) result.message = "output '" + name + "' missing";
      continue;
    }
    OutputCheckResult o{name, compare(it->second, want, result.tolerance)};
    if (!o.comparison.passed() && result.passed) {
      result.passed = false;
      const auto& c = o.comparison;
      result.message = name + ": " + std::to_string(c.mismatches) + "/" + std::to_string(c.elements) +
                       " out of tolerance, " + std::to_string(c.nonfinite) + " non-finite, max abs " +
                       std::to_string(c.max_abs_error);
    }
    result.outputs.push_back(std::move(o));
  }
  return result;
}

}  // namespace ssmkit::bench
