#include "sweep_runners.hpp"

#include "replay_report.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/memory_budget.hpp"
#include "ssmkit/model/units.hpp"
#include "ssmkit/scenario/scenario_replay.hpp"

namespace ssmkit::app {
namespace {

PointOutcome run_replay_point(const Scenario& scenario) {
  const ScenarioReplay replay = replay_scenario(scenario);
  PointOutcome out;
  out.metrics = replay_metrics(replay);
  for (const CheckResult& c : replay.checks) {
    out.metrics["check_" + c.name] = c.passed;
    if (!c.passed) {
      out.status = "failed";
      out.message += (out.message.empty() ? "" : "; ") + c.name + ": " + c.detail;
    }
  }
  return out;
}

// The contexts `ssmkit budget` reports by default.
constexpr std::int64_t kBudgetContexts[] = {1024, 8192, 32768, 131072, 1048576};

PointOutcome run_budget_point(const Scenario& scenario) {
  const ModelSpec model = scenario_model(scenario);
  const ModelMemory memory = model_memory(model, scenario.cache.settings);
  const std::size_t budget = scenario.cache.memory.resolve();
  PointOutcome out;
  out.metrics["memory_budget_bytes"] = budget;
  out.metrics["state_bytes_per_sequence"] = memory.state_bytes_per_sequence;
  out.metrics["kv_bytes_per_token"] = memory.kv_bytes_per_token;
  for (const std::int64_t context : kBudgetContexts) {
    out.metrics["max_sequences_" + format_tokens(context)] =
        capacity_at(memory, budget, context).max_sequences;
  }
  return out;
}

}  // namespace

const std::vector<PointRunner>& sweep_runners() {
  static const std::vector<PointRunner> runners = {
      {"replay", "an accounting-only replay of the point's workload (ssmkit replay)",
       run_replay_point,
       {"finished", "rejected", "steps", "preemptions", "recomputed_tokens", "peak_running",
        "peak_pages", "peak_memory_bytes", "queue_delay_p50_s", "queue_delay_p99_s"}},
      {"budget", "state and KV bytes, and the sequences the memory holds at 1K..1M tokens",
       run_budget_point, {}},
  };
  return runners;
}

const PointRunner* find_sweep_runner(std::string_view name) {
  for (const PointRunner& r : sweep_runners()) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

}  // namespace ssmkit::app
