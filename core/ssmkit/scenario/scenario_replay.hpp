#pragma once
#include <cstdint>
#include <vector>

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

// An accounting-only replay: the scenario's requests through a HybridCache built without
// storage (on OmittedStorage). No kernels run, whatever the scenario's backend; times
// come from the scheduler's step-time model. With checks.invariants the accounting is
// cross-checked after every step and a disagreement fails that check (the replay stops
// there).
ScenarioReplay replay_scenario(const Scenario& scenario, ReplayOptions options = {});

}  // namespace ssmkit
