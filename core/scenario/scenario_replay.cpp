#include "ssmkit/scenario/scenario_replay.hpp"

#include <chrono>
#include <filesystem>
#include <sstream>

#include "ssmkit/error.hpp"
#include "ssmkit/model/memory_budget.hpp"
#include "ssmkit/model/units.hpp"

namespace ssmkit {
namespace {

std::string count(std::uint64_t n, const std::string& what) {
  return std::to_string(n) + " " + what;
}

}  // namespace

ModelSpec scenario_model(const Scenario& scenario) { return resolve_model(scenario.model); }

HybridCacheConfig scenario_cache_config(const Scenario& scenario, const ModelSpec& model) {
  const CacheSettings& settings = scenario.cache.settings;
  const std::uint64_t budget = scenario.cache.memory.resolve();
  const std::size_t per_sequence = model_memory(model, settings).state_bytes_per_sequence;
  const auto slots = static_cast<std::uint64_t>(settings.max_requests);
  if (slots > 0 && per_sequence > budget / slots) {  // per_sequence * slots > budget, without overflow
    throw InputError(scenario.source, "cache.memory",
                     "room for the states of cache.max_sequences (" + std::to_string(slots) +
                         " x " + format_bytes(per_sequence) + "), got " +
                         scenario.cache.memory.describe() +
                         "; lower max_sequences or raise the memory");
  }
  // context 1: the KV pool's max_seq_len stays the scenario's (or the model's).
  HybridCacheConfig config = budget_cache_config(model, settings, budget, settings.max_requests, 1);
  try {
    config.validate();
  } catch (const InputError& e) {
    throw InputError(scenario.source, "cache", std::string("a cache that can be built: ") + e.what());
  }
  return config;
}

std::vector<RequestSpec> scenario_requests(const Scenario& scenario) {
  if (const auto& trace = scenario.workload.trace) {
    // Checked when the trace is read, not when the scenario is: a sweep or a schema check
    // of a scenario need not have its trace at hand.
    std::error_code ec;
    if (!std::filesystem::exists(trace->path, ec)) {
      throw InputError(scenario.source, "workload.trace.path",
                       "an Azure trace CSV (relative to the scenario); " + trace->path.string() +
                           " does not exist");
    }
    std::vector<RequestSpec> requests = read_azure_trace(trace->path, trace->selection);
    for (RequestSpec& r : requests) r.arrival_s /= trace->speedup;
    return requests;
  }
  return generate_requests(*scenario.workload.synthetic);
}

std::vector<CheckResult> evaluate_checks(const ScenarioChecks& checks, const ReplayTotals& totals) {
  std::vector<CheckResult> out;
  if (checks.all_finished && *checks.all_finished) {
    out.push_back({"all_finished", totals.finished == totals.requests,
                   count(totals.finished, "of") + " " + count(totals.requests, "requests finished") +
                       " (" + count(totals.rejected, "rejected") + ")"});
  }
  if (checks.max_preemptions) {
    out.push_back({"max_preemptions", totals.preemptions <= *checks.max_preemptions,
                   count(totals.preemptions, "preemptions") + ", at most " +
                       std::to_string(*checks.max_preemptions) + " allowed"});
  }
  if (checks.max_rejected) {
    out.push_back({"max_rejected", totals.rejected <= *checks.max_rejected,
                   count(totals.rejected, "requests rejected") + ", at most " +
                       std::to_string(*checks.max_rejected) + " allowed"});
  }
  if (checks.max_queue_delay_p99_s) {
    std::ostringstream detail;
    detail << "p99 queueing delay " << totals.queue_delay.p99_s << " s, at most "
           << *checks.max_queue_delay_p99_s << " s allowed";
    out.push_back({"max_queue_delay_p99_s",
                   totals.queue_delay.p99_s <= *checks.max_queue_delay_p99_s, detail.str()});
  }
  return out;
}

ScenarioReplay replay_scenario(const Scenario& scenario, ReplayOptions options, Backend* kernels) {
  ScenarioReplay out;
  out.scenario = scenario;
  out.model = scenario_model(scenario);
  out.cache = scenario_cache_config(scenario, out.model);
  out.memory_budget = scenario.cache.memory.resolve();
  std::vector<RequestSpec> requests = scenario_requests(scenario);
  // Accounting needs no storage; a kernel replay's cache lives where the backend computes.
  OmittedStorage omitted;  // outlives `cache`, which allocates from it
  HybridCache cache(out.cache, kernels != nullptr ? kernels->storage_allocator() : omitted);
  std::unique_ptr<StepExecutor> executor;
  if (kernels != nullptr) {
    executor = kernels->step_executor(cache, out.model);
    options.executor = executor.get();
  }
  options.check_invariants = options.check_invariants || scenario.checks.invariants;
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::string> violation;
  try {
    SchedulerConfig scheduler = scenario.scheduler;
    scheduler.max_seq_len = scenario.cache.settings.max_seq_len;  // for state-only models too
    out.result = run_replay(cache, scheduler, std::move(requests), options);
  } catch (const std::logic_error& e) {  // the engine's own consistency checks
    if (!options.check_invariants) throw;
    violation = e.what();
  }
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (scenario.checks.invariants) {
    out.checks.push_back({"invariants", !violation,
                          violation ? *violation : "cache accounting agreed after every step"});
  }
  for (auto& c : evaluate_checks(scenario.checks, out.result.totals)) out.checks.push_back(c);
  return out;
}

}  // namespace ssmkit
