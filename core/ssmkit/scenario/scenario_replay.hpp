#pragma once
#include <cstdint>
#include <vector>

#include "ssmkit/backend.hpp"
#include "ssmkit/scenario/scenario.hpp"

namespace ssmkit {

// Everything a replay of a scenario produced, for the reports.
struct ScenarioReplay {
  Scenario scenario;
  ModelSpec model;
  HybridCacheConfig cache;
  std::uint64_t memory_budget = 0;
  ReplayResult result;
  std::vector<CheckResult> checks;  // the scenario's, in the order of ScenarioChecks
  double wall_s = 0.0;              // how long the replay itself took
};

// The scenario's requests through a HybridCache. Without `kernels`, accounting only: the
// cache is built without storage (on OmittedStorage), no kernels run and times come from
// the scheduler's step-time model. With `kernels`, the cache allocates through
// kernels->storage_allocator(), every step runs on kernels->step_executor(cache, model) and
// times are the kernels' measured times (an InputError from a backend that cannot). With
// checks.invariants the accounting is
// cross-checked after every step and a disagreement fails that check (the replay stops
// there).
ScenarioReplay replay_scenario(const Scenario& scenario, ReplayOptions options = {},
                               Backend* kernels = nullptr);

}  // namespace ssmkit
