#pragma once
// Helpers shared by the op descriptors in core/ops/ (golden binding, bench inputs and shapes,
// traffic, check slices).
#include <string>
#include <vector>

#include "ssmkit/backend.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/bench/check.hpp"
#include "ssmkit/bench/random_inputs.hpp"
#include "ssmkit/bench/traffic_terms.hpp"
#include "ssmkit/golden.hpp"
#include "ssmkit/op_case.hpp"
#include "ssmkit/shape_binder.hpp"

namespace ssmkit::detail {

inline Tensor f64(const Tensor* t) { return t ? t->to(DType::float64) : Tensor{}; }
inline Tensor f64(const Tensor& t) { return t.to(DType::float64); }

// Appends a trailing axis of `times` copies: (H) -> (H, P), used for per-head parameters.
Tensor repeat_last(const Tensor& t, std::int64_t times);

std::vector<std::int64_t> to_indices(const Tensor& t);

// `cu_seqlens` of a golden, when present: integer offsets from 0 to `seqlen`, strictly
// increasing, with batch 1 (packed sequences); empty when absent.
std::vector<std::int64_t> packed_offsets(const GoldenCase& golden, ShapeBinder& shapes,
                                         std::int64_t batch, std::int64_t seqlen);

// Slot indices of a state pool: each one in [0, slots) or the pad id, and no slot named
// twice, else an input error naming `dataset`.
void check_slots(const ShapeBinder& shapes, const std::string& dataset,
                 const std::vector<std::int64_t>& indices, std::int64_t slots, std::int64_t pad);

// attr `activation`: "silu"/"swish" or 1 -> true; "none"/"" or 0 -> false (default none).
bool silu_activation(const GoldenCase& golden);

// A call option a bench case may carry among its dims (`golden make --initial-states`,
// `--varlen`); bench's own cases never set one, so the option is off there.
inline std::int64_t case_option(const bench::BenchCase& c, const char* key) {
  auto it = c.dims.find(key);
  return it == c.dims.end() ? 0 : it->second;
}

// Golden-call writing (OpDescriptor::golden_call): an undefined tensor (an argument that
// was None) is left out; flags are numbers; index lists become int64 datasets.
void put_input(GoldenCall& call, const std::string& name, const Tensor& t);
void put_indices(GoldenCall& call, const std::string& name, const std::vector<std::int64_t>& v,
                 Shape shape);
inline AttrValue attr_number(double v) { return std::vector<double>{v}; }
GoldenCall golden_call_in(DType input_dtype);

std::string dims_summary(const ShapeBinder& shapes, const std::vector<std::string>& symbols);

}  // namespace ssmkit::detail
