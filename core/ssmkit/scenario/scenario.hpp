#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ssmkit/model/model_spec.hpp"
#include "ssmkit/serving/azure_trace.hpp"
#include "ssmkit/serving/replay_engine.hpp"
#include "ssmkit/serving/synthetic_workload.hpp"

namespace ssmkit {

// A scenario: a model, how its caches are sized, a workload, how it is scheduled, and what
// must hold. The YAML schema is documented in scenarios/README.md; load_scenario checks it
// strictly (unknown keys, wrong types and out-of-range values are InputErrors at
// file:line:column).

// The memory the caches of one GPU (one tensor-parallel rank) may take: state slots for
// max_sequences first, KV pages from the rest. Either stated directly (`bytes`), or, as
// `ssmkit budget` derives it, floor(utilization x device memory) - reserve, the device
// memory being a known GPU's (gpu_table()) or a stated size.
struct ScenarioMemory {
  std::uint64_t bytes = 0;         // the caches' memory, stated directly; or
  std::string gpu;                 // a known GPU, or
  std::uint64_t device_bytes = 0;  // a device memory size,
  double utilization = 0.9;        // the fraction engines may use (vLLM's gpu_memory_utilization)
  std::uint64_t reserve = 0;       // what weights and activations take of that fraction

  std::uint64_t resolve() const;
  std::string describe() const;  // "60.00 GiB", "0.9 x h100 (79.65 GiB) - 16.00 GiB = ..."
};

struct ScenarioCache {
  // dtypes, page_size, tensor_parallel, max_requests (max_sequences), max_seq_len; its
  // kv_memory stays empty: the KV pool gets what the states leave of `memory`.
  CacheSettings settings;
  ScenarioMemory memory;
};

struct TraceWorkload {
  std::filesystem::path path;  // absolute, or relative to the working directory
  TraceSelection selection;
  double speedup = 1.0;  // arrivals come this many times faster than the trace's
};

struct ScenarioWorkload {
  std::optional<TraceWorkload> trace;          // exactly one of these two
  std::optional<SyntheticWorkload> synthetic;
};

// Conditions a replay must meet; unset ones are not checked.
struct ScenarioChecks {
  bool invariants = false;  // cross-check the cache accounting after every step
  std::optional<bool> all_finished;
  std::optional<std::int64_t> max_preemptions;
  std::optional<std::int64_t> max_rejected;
  std::optional<double> max_queue_delay_p99_s;
};

// What a sweep point with `command: validate` runs: a golden suite on the scenario's backend.
struct ScenarioValidate {
  std::filesystem::path suite;    // a golden file, directory or YAML suite; empty: the bundled one
  std::vector<std::string> ops;   // only golden cases of these ops; empty: every case
};

// What a sweep point with `command: bench` times: `ssmkit bench`'s cases at the shapes of the
// scenario's model (or of a named shape preset) on the scenario's backend.
struct ScenarioBench {
  std::string preset;             // a bench shape preset; empty: the scenario model's shapes
  std::vector<std::string> ops;   // empty: every op the shapes have
  std::int64_t repetitions = 3;   // timed passes per case; the median is reported
  std::vector<std::int64_t> batches, seqlens, decode_batches;  // empty: bench's defaults
};

struct Scenario {
  std::string source;  // the file it came from, for messages
  std::string name;
  std::string model;   // a preset name, or a config.json path (or its directory) resolved
                       // against the scenario's directory
  ScenarioCache cache;
  ScenarioWorkload workload;
  SchedulerConfig scheduler;
  std::string backend = "cpu";  // cpu or cuda
  ScenarioChecks checks;
  ScenarioValidate validate;
  ScenarioBench bench;
};

// A field set from outside the file (a command-line flag): `path` is dotted
// ("cache.page_size"); `value` is a string scalar, or with `yaml` read as YAML flow text
// ("{gpu: h100, utilization: 0.9}"). Overrides replace what the file says and go through
// the same checks; their errors name `where` and the path.
struct ScenarioOverride {
  std::string path;
  std::string value;
  bool yaml = false;
};

Scenario load_scenario(const std::filesystem::path& file,
                       const std::vector<ScenarioOverride>& overrides = {});
// A scenario made of overrides alone; relative paths resolve against the working directory.
Scenario scenario_from_overrides(const std::vector<ScenarioOverride>& overrides,
                                 const std::string& where);
// From YAML text; `where` names it in errors and relative paths resolve against base_dir.
Scenario parse_scenario(const std::string& yaml_text, const std::string& where,
                        const std::filesystem::path& base_dir);

// The model the scenario names (model_preset or load_hf_config).
ModelSpec scenario_model(const Scenario& scenario);
// The cache of one tensor-parallel rank: max_sequences state slots and, for a model with
// attention layers, KV pages from the memory the states leave. InputError when the states
// alone exceed the memory, or the pages left hold no sequence.
HybridCacheConfig scenario_cache_config(const Scenario& scenario, const ModelSpec& model);
std::vector<RequestSpec> scenario_requests(const Scenario& scenario);

struct CheckResult {
  std::string name;
  bool passed = false;
  std::string detail;  // "3 preemptions, at most 0 allowed"
};
std::vector<CheckResult> evaluate_checks(const ScenarioChecks& checks, const ReplayTotals& totals);

}  // namespace ssmkit
