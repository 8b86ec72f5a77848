#include "ssmkit/bench/check.hpp"

#include <algorithm>
#include <cstring>

#include "ssmkit/backend.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/tolerance.hpp"

namespace ssmkit::bench {

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

NamedTensors cut_outputs(const NamedTensors& outputs, const std::vector<Range>& ranges) {
  NamedTensors r;
  for (const auto& [name, t] : outputs) r[name] = cut(t, ranges);
  return r;
}

namespace {

CheckUnits units_of(const OpParams& op) {
  return std::visit(
      [](const auto& p) {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, MemoryCopyParams>) {
          return CheckUnits{1, 1, 1, "bytes", false};
        } else {
          return OpDescriptor<P>::check_units(p);
        }
      },
      op);
}

DType tolerance_dtype(const OpParams& op) {
  return std::visit(
      [](const auto& p) -> DType {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, MemoryCopyParams>) {
          return DType::float32;
        } else {
          return OpDescriptor<P>::tolerance_dtype(p);
        }
      },
      op);
}

}  // namespace

Slice choose_slice(const OpParams& op, double flop_budget) {
  const CheckUnits u = units_of(op);
  Slice s;
  s.units = u.units;
  const double per_unit = traffic(op).flops / static_cast<double>(std::max<std::int64_t>(1, u.batch * u.units));
  if (!u.sliceable || per_unit * static_cast<double>(u.batch * u.units) <= flop_budget) {
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
  return std::visit(
      [&](const auto& p) -> OpParams {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, MemoryCopyParams>) {
          return p;
        } else {
          return OpDescriptor<P>::slice(p, s);
        }
      },
      op);
}

NamedTensors slice_outputs(const OpParams& op, const NamedTensors& outputs, const Slice& s) {
  if (s.whole) return outputs;
  return std::visit(
      [&](const auto& p) -> NamedTensors {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, MemoryCopyParams>) {
          return outputs;
        } else {
          return OpDescriptor<P>::slice_outputs(p, outputs, s);
        }
      },
      op);
}

CheckResult check_outputs(const OpParams& op, const NamedTensors& outputs, Backend& reference,
                          double flop_budget) {
  CheckResult result;
  const Slice s = choose_slice(op, flop_budget);
  const CheckUnits units = units_of(op);
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
