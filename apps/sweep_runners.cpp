#include "sweep_runners.hpp"

#include <algorithm>

#include "backends.hpp"
#include "cpu/cpu_backend.hpp"
#include "replay_report.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/bench/harness.hpp"
#include "ssmkit/bench/measurement.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/golden.hpp"
#include "ssmkit/model/memory_budget.hpp"
#include "ssmkit/model/units.hpp"
#include "ssmkit/scenario/scenario_replay.hpp"
#include "ssmkit/validation.hpp"
#include "validate_command.hpp"

namespace ssmkit::app {
namespace {

PointOutcome run_replay_point(const Scenario& scenario) {
  const std::unique_ptr<Backend> kernels = replay_backend(scenario.backend);  // as ssmkit replay
  const ScenarioReplay replay = replay_scenario(scenario, {}, kernels.get());
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

bool wanted(const std::vector<std::string>& ops, const std::string& op) {
  return ops.empty() || std::find(ops.begin(), ops.end(), op) != ops.end();
}

// The golden suite (validate.suite, or the bundled one) on the point's backend, as
// `ssmkit validate` runs it. A case whose op the filter leaves out is counted as skipped
// (its file is read for the op name); a file that cannot be read counts as an input error,
// whatever the filter.
PointOutcome run_validate_point(const Scenario& scenario) {
  const std::unique_ptr<Backend> backend = make_backend(scenario.backend);
  const std::filesystem::path suite_path =
      scenario.validate.suite.empty() ? bundled_suite() : scenario.validate.suite;
  const CollectedSuite suite = collect_suite({suite_path});
  std::int64_t passed = 0, failed = 0, input_errors = 0, skipped = 0;
  std::string first_problem;
  auto note = [&first_problem](const std::string& what) {
    if (first_problem.empty()) first_problem = what;
  };
  for (const InputError& e : suite.errors) {
    ++input_errors;
    note(e.what());
  }
  for (const SuiteEntry& entry : suite.entries) {
    if (!scenario.validate.ops.empty()) {
      std::string op;
      try {
        op = load_golden(entry.path).op;
      } catch (const InputError&) {
        // validate_case reports the file as an input error below
      }
      if (!op.empty() && !wanted(scenario.validate.ops, op)) {
        ++skipped;
        continue;
      }
    }
    for (const CaseResult& row : validate_case(entry, {backend.get()}, {})) {
      if (row.status == CaseStatus::pass) {
        ++passed;
        continue;
      }
      (row.status == CaseStatus::input_error ? input_errors : failed) += 1;
      note(row.case_name + " " + std::string(status_name(row.status)) + ": " + row.message);
    }
  }
  if (passed + failed + input_errors == 0) {
    throw InputError(suite_path.string(), "validate", "golden cases to run, found none" +
                                                          std::string(skipped ? " of the ops asked for" : ""));
  }
  PointOutcome out;
  out.metrics["backend"] = backend->name() + " (" + backend->device_description() + ")";
  out.metrics["suite"] = suite_path.string();
  out.metrics["passed"] = passed;
  out.metrics["failed"] = failed;
  out.metrics["input_errors"] = input_errors;
  out.metrics["skipped"] = skipped;
  if (failed + input_errors > 0) {
    out.status = "failed";
    out.message = std::to_string(failed) + " failed, " + std::to_string(input_errors) +
                  " input errors; first: " + first_problem;
  }
  return out;
}

// `ssmkit bench`'s cases at the point's shapes on its backend, through bench's harness: per
// case the median seconds per call over `bench.repetitions` timed passes, and the bytes the
// call must move over that time. Outside the CPU reference every case is checked against it
// first; a failed check makes the point `failed`, a case that cannot be set up is listed as
// skipped with its reason.
PointOutcome run_bench_point(const Scenario& scenario) {
  const ScenarioBench& b = scenario.bench;
  const bench::ShapePreset shapes =
      b.preset.empty() ? bench::shape_preset_for(scenario_model(scenario), scenario.cache.settings.page_size)
                       : bench::shape_preset(b.preset);
  bench::SweepOptions options;
  if (!b.batches.empty()) options.batches = b.batches;
  if (!b.seqlens.empty()) options.seqlens = b.seqlens;
  if (!b.decode_batches.empty()) options.decode_batches = b.decode_batches;
  options.ops = b.ops;
  const std::vector<bench::BenchCase> cases = bench::make_cases(shapes, options);
  if (cases.empty()) {
    throw InputError(scenario.source, "bench.ops", "ops that the shapes of " + shapes.name + " have");
  }
  const std::unique_ptr<Backend> backend = make_backend(scenario.backend);
  CpuBackend reference;
  PointOutcome out;
  out.metrics["backend"] = backend->name() + " (" + backend->device_description() + ")";
  out.metrics["shapes"] = shapes.name;
  for (const bench::BenchCase& c : cases) {
    bench::TimedCall timed = bench::prepare_timed_call(*backend, reference, c.make_params(), {});
    if (!timed.skip.empty()) {
      out.metrics[c.name + " skipped"] = timed.skip;
      continue;
    }
    if (timed.check) {
      out.metrics[c.name + " check"] = timed.check->passed;
      if (!timed.check->passed) {
        out.status = "failed";
        out.message += (out.message.empty() ? "" : "; ") + c.name + ": " + timed.check->message;
      }
    }
    const double seconds =
        bench::quantile(bench::time_calls(*timed.op, static_cast<int>(b.repetitions)), 0.5);
    out.metrics[c.name + " median_s"] = seconds;
    out.metrics[c.name + " GB/s"] = seconds > 0.0 ? timed.traffic.bytes / seconds / 1e9 : 0.0;
  }
  return out;
}

}  // namespace

const std::vector<PointRunner>& sweep_runners() {
  static const std::vector<PointRunner> runners = {
      {"replay", "a replay of the point's workload (ssmkit replay): accounting only, or the kernels with backend cuda",
       run_replay_point,
       {"finished", "rejected", "steps", "preemptions", "recomputed_tokens", "peak_running",
        "peak_pages", "peak_memory_bytes", "queue_delay_p50_s", "queue_delay_p99_s"}},
      {"budget", "state and KV bytes, and the sequences the memory holds at 1K..1M tokens",
       run_budget_point, {}},
      {"validate", "a golden suite on the point's backend (ssmkit validate): passed, failed, skipped",
       run_validate_point, {"passed", "failed", "input_errors", "skipped"}},
      {"bench", "ssmkit bench's cases at the point's shapes on its backend: median time and GB/s",
       run_bench_point, {}},
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
