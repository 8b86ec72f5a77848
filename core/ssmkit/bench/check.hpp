#pragma once
// The correctness check behind every benchmark row: the backend's outputs for the timed
// call against the float64 CPU reference on the same inputs. To bound the reference's
// time, only a slice of independent units is recomputed (one batch row, a range of
// channels or heads, all of one group), and the report says which.
#include <string>
#include <vector>

#include "ssmkit/bench/op_params.hpp"
#include "ssmkit/compare.hpp"

namespace ssmkit::bench {

struct Slice {
  std::int64_t batch_row = 0;  // the one batch row (rows of gated_rmsnorm: first row)
  std::int64_t first = 0;      // first unit (channel, head, or row) and how many
  std::int64_t count = 0;
  std::int64_t units = 0;      // how many units the op has
  bool whole = false;          // the slice is the entire call
};

// A range of one axis: `count` indices from `start` (count -1: the whole axis).
struct Range {
  std::int64_t start = 0, count = -1;
};
// A float64 tensor cut along its leading axes (the remaining axes stay whole); an undefined
// tensor stays undefined.
Tensor cut(const Tensor& t, const std::vector<Range>& ranges);
// Every output cut the same way.
NamedTensors cut_outputs(const NamedTensors& outputs, const std::vector<Range>& ranges);

// The last batch row and the last units, as many as `flop_budget` allows (at least one),
// inside one group of heads/channels.
Slice choose_slice(const OpParams& op, double flop_budget);
OpParams slice_params(const OpParams& op, const Slice& slice);
NamedTensors slice_outputs(const OpParams& op, const NamedTensors& outputs, const Slice& slice);

struct OutputCheckResult {
  std::string name;
  Comparison comparison;
};
struct CheckResult {
  bool passed = true;
  std::string slice;  // what was compared
  Tolerance tolerance;
  std::vector<OutputCheckResult> outputs;
  std::string message;  // first failure, in words
};

// `outputs` are the backend's full outputs for `op`; the reference runs on `reference`.
CheckResult check_outputs(const OpParams& op, const NamedTensors& outputs, Backend& reference,
                          double flop_budget);

}  // namespace ssmkit::bench
