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

// attr `activation`: "silu"/"swish" or 1 -> true; "none"/"" or 0 -> false (default none).
bool silu_activation(const GoldenCase& golden);

std::string dims_summary(const ShapeBinder& shapes, const std::vector<std::string>& symbols);

}  // namespace ssmkit::detail
