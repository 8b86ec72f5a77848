#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ssmkit/cache/hybrid_cache.hpp"

namespace ssmkit {

// What one request computes in a scheduler step. Its tokens occupy positions
// [first_position, first_position + tokens) of its sequence; the cache already holds the
// pages for them (the step's admit or extend happened first) and the request's state slot
// holds its states after first_position tokens (zeros when first_position is 0).
struct ScheduledTokens {
  RequestId request = 0;
  std::int64_t slot = 0;            // HybridCache::slot_of(request)
  std::int64_t first_position = 0;  // tokens in the cache before this step
  std::int64_t tokens = 0;
  // A prefill chunk (the prompt, or a recompute after preemption) runs the sequence
  // kernels; a decode entry is the one token fed back after the request's last output,
  // and runs the single-step update kernels.
  bool prefill = true;
};

// One scheduler step: its requests in the order the scheduler took them (running ones
// oldest first, then those admitted in this step).
struct StepWork {
  std::int64_t step = 0;  // 0-based index among the steps that computed something
  std::vector<ScheduledTokens> requests;

  std::int64_t tokens() const;
  std::int64_t prefill_tokens() const;
  std::int64_t decode_tokens() const;
};

// What the kernels of one step took, on the device's own clock.
struct StepTiming {
  double seconds = 0.0;    // the whole step
  double prefill_s = 0.0;  // of which the prefill chunks' kernels
  double decode_s = 0.0;   // and the decode tokens' kernels
  // Whether the times are the device's alone: the kernels were enqueued behind a launch gate
  // before the clock started (as bench's passes); otherwise they include the host's launches.
  bool gated = false;
};

// Runs a step's kernels on a HybridCache's storage: a replay with an executor takes each
// step's duration from what it measured instead of the step-time model. Backend::
// step_executor makes one for a cache allocated through that backend's allocator.
class StepExecutor {
 public:
  virtual ~StepExecutor() = default;
  // What runs and what does not, in words, for the report.
  virtual std::string description() const = 0;
  // Runs the step (it has finished when this returns) and says how long it took.
  virtual StepTiming run(const StepWork& step, HybridCache& cache) = 0;
};

}  // namespace ssmkit
