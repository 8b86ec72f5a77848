#pragma once
// The one bench harness behind `ssmkit bench` and sweep's bench points: a call is prepared
// on the backend (its input sets resident), checked against the reference, warmed up, and
// then timed pass by pass. A case that cannot be set up (too large for the memory there, a
// kernel refusing the shape) is a skip with its reason, not an error of the run.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ssmkit/backend.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/bench/check.hpp"

namespace ssmkit::bench {

struct HarnessOptions {
  int copies = 0;            // input sets per pass; 0: default_copies of the call's traffic
  bool graph = false;        // time CUDA-graph replays where the backend can
  bool check = true;         // compare with the reference before timing
  double check_flops = 1e8;  // reference work per check (check.hpp)
  int warmup_passes = 2;
};

struct TimedCall {
  std::unique_ptr<PreparedOp> op;  // null when skipped
  Traffic traffic;
  std::optional<CheckResult> check;  // absent when not checked; `check_note` says why
  std::string check_note;
  std::string skip;  // why the call could not be set up; empty when it was
  double setup_seconds = 0.0;  // inputs, upload, check and warm-up
};

// Sets the call up on `backend`. A memory copy and the CPU reference itself are not checked.
TimedCall prepare_timed_call(Backend& backend, Backend& reference, const OpParams& call,
                             const HarnessOptions& options);

// `passes` timed passes of a prepared call, in seconds per call.
std::vector<double> time_calls(PreparedOp& op, int passes);

}  // namespace ssmkit::bench
