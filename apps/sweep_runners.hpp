#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ssmkit/scenario/scenario.hpp"

namespace ssmkit::app {

// What one sweep point produced. status: "ok"; "failed" (it ran, and a check failed);
// "error" (it could not run: the message says why).
struct PointOutcome {
  std::string status = "ok";
  std::string message;
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
};

// A command a sweep can run at each point: one entry in sweep_runners(). A runner throws
// InputError or BackendUnavailable for a point that cannot run (status `error`).
struct PointRunner {
  std::string_view name;
  std::string_view summary;
  PointOutcome (*run)(const Scenario& scenario);
  std::vector<std::string> headline;  // the metrics the table on the terminal shows
};

const std::vector<PointRunner>& sweep_runners();
const PointRunner* find_sweep_runner(std::string_view name);

}  // namespace ssmkit::app
