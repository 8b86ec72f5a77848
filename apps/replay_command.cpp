#include "replay_command.hpp"

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "backends.hpp"
#include "cli_checks.hpp"
#include "progress_bar.hpp"
#include "replay_report.hpp"
#include "report_output.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit::app {
namespace {

struct ReplayArgs {
  std::string scenario;
  std::string model, trace, gpu_mem, gpu, reserve, backend;
  std::optional<double> utilization;
  std::optional<std::int64_t> max_sequences, page_size, token_budget, limit;
  std::string json_path;
  double timeline_interval_s = 1.0;
  bool no_timeline = false;
};

std::string absolute(const std::string& path) { return std::filesystem::absolute(path).string(); }

// Flags become scenario fields, checked like the file's own.
std::vector<ScenarioOverride> overrides_of(const ReplayArgs& a) {
  std::vector<ScenarioOverride> o;
  if (!a.model.empty()) {
    const bool is_path = std::filesystem::path(a.model).extension() == ".json";
    o.push_back({"model", is_path ? absolute(a.model) : a.model});
  }
  if (!a.trace.empty()) o.push_back({"workload.trace.path", absolute(a.trace)});
  if (a.limit) o.push_back({"workload.trace.limit", std::to_string(*a.limit)});
  // As `ssmkit budget` states it: floor(utilization x device memory) - reserve.
  const bool memory_flags = !a.gpu_mem.empty() || !a.gpu.empty() || a.utilization || !a.reserve.empty();
  if (memory_flags || a.scenario.empty()) {
    nlohmann::json memory = nlohmann::json::object();
    if (!a.gpu_mem.empty()) {
      memory["device"] = a.gpu_mem;
    } else {
      memory["gpu"] = a.gpu.empty() ? "h100" : a.gpu;
    }
    if (a.utilization) memory["utilization"] = *a.utilization;
    if (!a.reserve.empty()) memory["reserve"] = a.reserve;
    o.push_back({"cache.memory", memory.dump(), true});  // JSON is YAML flow text
  }
  if (a.max_sequences) o.push_back({"cache.max_sequences", std::to_string(*a.max_sequences)});
  if (a.page_size) o.push_back({"cache.page_size", std::to_string(*a.page_size)});
  if (a.token_budget) o.push_back({"scheduler.token_budget", std::to_string(*a.token_budget)});
  if (!a.backend.empty()) o.push_back({"backend", a.backend});
  return o;
}

int run(const ReplayArgs& a) {
  if (!a.scenario.empty() && a.gpu.empty() && a.gpu_mem.empty() &&
      (a.utilization || !a.reserve.empty())) {
    throw InputError("ssmkit replay", a.utilization ? "--utilization" : "--reserve",
                     "--gpu or --gpu-mem with it, to replace the scenario's cache.memory");
  }
  Scenario scenario;
  if (!a.scenario.empty()) {
    try {
      scenario = load_scenario(a.scenario, overrides_of(a));
    } catch (const InputError& e) {
      // The trace flags change a trace workload; on a synthetic one the scenario would blame
      // its own line for the clash.
      if (e.field() != "workload" || (a.trace.empty() && !a.limit)) throw;
      throw InputError("ssmkit replay", a.trace.empty() ? "--limit" : "--trace",
                       "a scenario whose workload is a trace; " + a.scenario +
                           " has a synthetic workload, which these flags do not replace");
    }
  } else {
    if (a.model.empty() || a.trace.empty()) {
      throw InputError("ssmkit replay", "", "a SCENARIO.yaml, or --model and --trace");
    }
    auto o = overrides_of(a);
    o.insert(o.begin(), {"name", "replay " + a.model});
    scenario = scenario_from_overrides(o, "command line");
  }

  if (!a.json_path.empty()) check_output_file(a.json_path, "--json");  // before the replay, not after

  ReplayOptions options;
  options.timeline_interval_s = a.timeline_interval_s;
  std::optional<ProgressBar> bar;
  options.on_step = [&bar](const ReplayEngine& e) {
    const ReplayTotals& t = e.totals();
    if (!bar) bar.emplace("replay", t.requests);
    if (t.steps % 256 == 0) {
      bar->update(t.finished + t.rejected,
                  "t=" + std::to_string(static_cast<long long>(e.now())) + "s");
    }
  };
  // cpu: accounting only. cuda: the kernels run, on a GPU that must be there.
  std::unique_ptr<Backend> kernels;
  try {
    kernels = replay_backend(scenario.backend);
  } catch (const BackendUnavailable& e) {
    std::cerr << "ssmkit replay: " << e.what() << '\n';
    return 2;
  }
  const ScenarioReplay replay = replay_scenario(scenario, options, kernels.get());
  if (bar) bar->finish();
  print_replay(std::cout, replay);
  if (!a.json_path.empty()) {
    write_output_file(a.json_path, "--json", json_text(replay_json(replay, !a.no_timeline)));
  }
  return all_checks_passed(replay) ? 0 : 1;
}

}  // namespace

void add_replay_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ReplayArgs>();
  CLI::App* cmd = app.add_subcommand(
      "replay",
      "Replay a request trace or a synthetic workload through a model's caches with "
      "continuous batching (accounting only, or the cache kernels on the GPU with --backend cuda)");
  cmd->add_option("scenario", args->scenario, "a scenario YAML (scenarios/README.md)");
  cmd->add_option("--model", args->model, "a model preset or an HF config.json");
  cmd->add_option("--trace", args->trace, "an Azure-format trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens)");
  cmd->add_option("--limit", args->limit, "replay the trace's first N requests")
      ->check(kPositiveNumber);
  auto* mem = cmd->add_option("--gpu-mem", args->gpu_mem, "the GPU's memory: 80GiB, 80GB, ...");
  auto* gpu = cmd->add_option("--gpu", args->gpu,
                              "a known GPU's memory (h100, h200, a100-80gb, ...; default h100)");
  mem->excludes(gpu);
  cmd->add_option("--utilization", args->utilization,
                  "the fraction of the GPU's memory engines may use (default 0.9)");
  cmd->add_option("--reserve", args->reserve,
                  "what weights and activations take of it (default 0): caches get "
                  "floor(utilization x memory) - reserve, as in ssmkit budget");
  cmd->add_option("--max-sequences", args->max_sequences, "state slots (cache.max_sequences)");
  cmd->add_option("--page-size", args->page_size, "tokens per KV page (cache.page_size)");
  cmd->add_option("--token-budget", args->token_budget,
                  "tokens per step, decode and prefill chunks (scheduler.token_budget)");
  cmd->add_option("--backend", args->backend,
                  "cpu: accounting only (the default); cuda: run the kernels on the GPU (backend)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--json", args->json_path, "write the timeline and totals as JSON to FILE");
  cmd->add_option("--timeline-interval", args->timeline_interval_s,
                  "simulated seconds between timeline samples")
      ->check(kPositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--no-timeline", args->no_timeline, "leave the timeline out of the JSON");
  cmd->callback([args, exit_code] { *exit_code = run(*args); });
}

}  // namespace ssmkit::app
