#pragma once
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "ssmkit/scenario/scenario_replay.hpp"

namespace ssmkit::app {

// Said in every replay report, for people and machines alike.
inline constexpr const char* kAccountingOnly =
    "accounting only: no kernels ran; pages, slots and bytes are the cache library's own "
    "accounting, times come from the scheduler's step-time model, not from a GPU";

bool all_checks_passed(const ScenarioReplay& replay);

// For people: what ran, then the totals and the checks.
void print_replay(std::ostream& os, const ScenarioReplay& replay);
// Everything: scenario, cache geometry, totals, checks and (optionally) the timeline.
nlohmann::ordered_json replay_json(const ScenarioReplay& replay, bool with_timeline);
// The totals as one flat object of numbers, for sweep tables.
nlohmann::ordered_json replay_metrics(const ScenarioReplay& replay);

}  // namespace ssmkit::app
