#include "ssmkit/scenario/scenario.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "scenario_yaml.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/limits.hpp"
#include "ssmkit/model/gpu_table.hpp"
#include "ssmkit/op_case.hpp"
#include "ssmkit/model/units.hpp"
#include "yaml_schema.hpp"

namespace ssmkit {
namespace {

using namespace yaml_schema;

// Bounds: core/ssmkit/limits.hpp; token counts: kMaxTokenCount (units.hpp); page size and
// tensor parallelism: model_spec.hpp.
using limits::kMaxRequests;
using limits::kMaxSequences;

DType read_cache_dtype(const Doc& doc, const YAML::Node& node, const std::string& path) {
  const std::string expected = "one of float32, bfloat16, float16, float64";
  if (!node.IsScalar()) fail(doc, node, path, expected + ", got " + describe(node));
  const auto dtype = parse_dtype(node.Scalar());
  if (!dtype || !is_cache_dtype(*dtype)) fail(doc, node, path, expected + ", got " + describe(node));
  return *dtype;
}

ScenarioMemory read_memory(const Doc& doc, const YAML::Node& node, const std::string& path) {
  ScenarioMemory memory;
  if (node.IsScalar()) {
    memory.bytes = parse_byte_size(node.Scalar(), doc.at(node), path);
    if (memory.bytes == 0) fail(doc, node, path, "a positive size, got 0");
    return memory;
  }
  if (!node.IsMap()) {
    fail(doc, node, path,
         "a size such as 60GiB, or {gpu: NAME | device: SIZE, utilization: FRACTION, "
         "reserve: SIZE}, got " + describe(node));
  }
  require_map(doc, node, path, {"gpu", "device", "utilization", "reserve"});
  if (static_cast<bool>(node["gpu"]) == static_cast<bool>(node["device"])) {
    fail(doc, node, path, "exactly one of 'gpu' (a known GPU) and 'device' (a memory size)");
  }
  if (const YAML::Node gpu = node["gpu"]) {
    memory.gpu = gpu_memory(read_string(doc, gpu, join(path, "gpu")), doc.at(gpu), join(path, "gpu")).name;
  }
  if (const YAML::Node device = node["device"]) {
    memory.device_bytes = parse_byte_size(read_string(doc, device, join(path, "device")),
                                          doc.at(device), join(path, "device"));
    if (memory.device_bytes == 0) fail(doc, device, join(path, "device"), "a positive size, got 0");
  }
  if (const YAML::Node utilization = node["utilization"]) {
    memory.utilization = read_number(doc, utilization, join(path, "utilization"), 0.0);
    if (!(memory.utilization > 0.0 && memory.utilization <= 1.0)) {
      fail(doc, utilization, join(path, "utilization"),
           "a fraction in (0, 1], got " + describe(utilization));
    }
  }
  if (const YAML::Node reserve = node["reserve"]) {
    memory.reserve = parse_byte_size(read_string(doc, reserve, join(path, "reserve")),
                                     doc.at(reserve), join(path, "reserve"));
    ScenarioMemory usable = memory;
    usable.reserve = 0;
    if (memory.reserve >= usable.resolve()) {
      fail(doc, reserve, join(path, "reserve"),
           "less than utilization x device memory (" + format_bytes(usable.resolve()) + "), got " +
               describe(reserve));
    }
  }
  return memory;
}

ScenarioCache read_cache(const Doc& doc, const YAML::Node& node) {
  const std::string path = "cache";
  require_map(doc, node, path,
              {"kv_dtype", "conv_dtype", "ssm_dtype", "linear_attention_dtype", "page_size",
               "memory", "max_sequences", "max_seq_len", "tensor_parallel"});
  ScenarioCache cache;
  CacheSettings& s = cache.settings;
  s.max_requests = 256;
  auto dtype = [&](const char* key, DType& out) {
    if (node[key]) out = read_cache_dtype(doc, node[key], join(path, key));
  };
  dtype("kv_dtype", s.kv_dtype);
  dtype("conv_dtype", s.conv_dtype);
  dtype("ssm_dtype", s.ssm_dtype);
  dtype("linear_attention_dtype", s.linear_attention_dtype);
  if (node["page_size"]) s.page_size = read_int(doc, node["page_size"], "cache.page_size", 1, kMaxPageSize);
  if (node["max_sequences"]) {
    s.max_requests = read_int(doc, node["max_sequences"], "cache.max_sequences", 1, kMaxSequences);
  }
  if (node["max_seq_len"]) {
    s.max_seq_len = read_int(doc, node["max_seq_len"], "cache.max_seq_len", 0, kMaxTokenCount);
  }
  if (node["tensor_parallel"]) {
    s.tensor_parallel = read_int(doc, node["tensor_parallel"], "cache.tensor_parallel", 1, kMaxTensorParallel);
  }
  cache.memory = read_memory(doc, required(doc, node, path, "memory"), "cache.memory");
  return cache;
}

LengthDistribution read_lengths(const Doc& doc, const YAML::Node& node, const std::string& path) {
  LengthDistribution d;
  if (node.IsScalar()) {
    d.kind = LengthDistribution::Kind::fixed;
    d.value = read_int(doc, node, path, 1, kMaxTokenCount);
    return d;
  }
  if (!node.IsMap()) {
    fail(doc, node, path, "a token count, or {distribution: fixed|uniform|lognormal, ...}, got " +
                              describe(node));
  }
  const YAML::Node kind = required(doc, node, path, "distribution");
  const std::string name = kind.IsScalar() ? kind.Scalar() : "";
  if (name == "fixed") {
    require_map(doc, node, path, {"distribution", "value"});
    d.kind = LengthDistribution::Kind::fixed;
    d.value = read_int(doc, required(doc, node, path, "value"), join(path, "value"), 1, kMaxTokenCount);
    return d;
  }
  if (name == "uniform") {
    require_map(doc, node, path, {"distribution", "min", "max"});
    d.kind = LengthDistribution::Kind::uniform;
    d.min = read_int(doc, required(doc, node, path, "min"), join(path, "min"), 1, kMaxTokenCount);
    d.max = read_int(doc, required(doc, node, path, "max"), join(path, "max"), d.min, kMaxTokenCount);
    return d;
  }
  if (name == "lognormal") {
    require_map(doc, node, path, {"distribution", "median", "sigma", "min", "max"});
    d.kind = LengthDistribution::Kind::lognormal;
    const YAML::Node median = required(doc, node, path, "median");
    d.median = read_number(doc, median, join(path, "median"), 1.0);
    if (d.median > static_cast<double>(kMaxTokenCount)) {
      fail(doc, median, join(path, "median"), "a token count up to " + std::to_string(kMaxTokenCount) + ", got " + describe(median));
    }
    d.sigma = read_number(doc, required(doc, node, path, "sigma"), join(path, "sigma"), 0.0);
    if (node["min"]) d.min = read_int(doc, node["min"], join(path, "min"), 1, kMaxTokenCount);
    if (node["max"]) d.max = read_int(doc, node["max"], join(path, "max"), d.min, kMaxTokenCount);
    return d;
  }
  fail(doc, kind, join(path, "distribution"), "fixed, uniform or lognormal, got " + describe(kind));
}

TraceWorkload read_trace(const Doc& doc, const YAML::Node& node, const std::filesystem::path& base) {
  const std::string path = "workload.trace";
  require_map(doc, node, path, {"path", "limit", "start_s", "end_s", "speedup"});
  TraceWorkload trace;
  const YAML::Node path_node = required(doc, node, path, "path");
  trace.path = base / read_string(doc, path_node, join(path, "path"));
  if (node["limit"]) trace.selection.limit = read_int(doc, node["limit"], join(path, "limit"), 1);
  if (node["start_s"]) {
    trace.selection.start_s = read_number(doc, node["start_s"], join(path, "start_s"), 0.0);
  }
  if (node["end_s"]) {
    trace.selection.end_s =
        read_number(doc, node["end_s"], join(path, "end_s"), trace.selection.start_s.value_or(0.0));
  }
  if (const YAML::Node speedup = node["speedup"]) {
    trace.speedup = read_number(doc, speedup, join(path, "speedup"), 0.0);
    if (trace.speedup < 1e-9) {
      fail(doc, speedup, join(path, "speedup"), "a factor >= 1e-9, got " + describe(speedup));
    }
  }
  return trace;
}

SyntheticWorkload read_synthetic(const Doc& doc, const YAML::Node& node) {
  const std::string path = "workload.synthetic";
  require_map(doc, node, path, {"seed", "requests", "arrival_rate", "prompt", "output"});
  SyntheticWorkload w;
  if (node["seed"]) w.seed = read_uint64(doc, node["seed"], join(path, "seed"));
  w.requests = read_int(doc, required(doc, node, path, "requests"), join(path, "requests"), 1, kMaxRequests);
  const YAML::Node rate = required(doc, node, path, "arrival_rate");
  w.arrival_rate = read_number(doc, rate, join(path, "arrival_rate"), 0.0, true);
  // Below one request in ~30 years the gaps stop being finite numbers of seconds.
  if (w.arrival_rate < 1e-9) {
    fail(doc, rate, join(path, "arrival_rate"),
         "requests per second >= 1e-9 (.inf: all at once), got " + describe(rate));
  }
  w.prompt = read_lengths(doc, required(doc, node, path, "prompt"), join(path, "prompt"));
  w.output = read_lengths(doc, required(doc, node, path, "output"), join(path, "output"));
  return w;
}

ScenarioWorkload read_workload(const Doc& doc, const YAML::Node& node,
                               const std::filesystem::path& base) {
  require_map(doc, node, "workload", {"trace", "synthetic"});
  if (static_cast<bool>(node["trace"]) == static_cast<bool>(node["synthetic"])) {
    fail(doc, node, "workload", "exactly one of 'trace' and 'synthetic'");
  }
  ScenarioWorkload w;
  if (node["trace"]) w.trace = read_trace(doc, node["trace"], base);
  if (node["synthetic"]) w.synthetic = read_synthetic(doc, node["synthetic"]);
  return w;
}

SchedulerConfig read_scheduler(const Doc& doc, const YAML::Node& node) {
  const std::string path = "scheduler";
  require_map(doc, node, path, {"token_budget", "max_running", "step_time"});
  SchedulerConfig s;
  if (node["token_budget"]) s.token_budget = read_int(doc, node["token_budget"], "scheduler.token_budget", 1);
  if (node["max_running"]) s.max_running = read_int(doc, node["max_running"], "scheduler.max_running", 1);
  if (const YAML::Node t = node["step_time"]) {
    const std::string tpath = "scheduler.step_time";
    require_map(doc, t, tpath, {"base_ms", "per_token_us"});
    if (t["base_ms"]) s.step_time.base_s = read_number(doc, t["base_ms"], join(tpath, "base_ms"), 0.0) / 1e3;
    if (t["per_token_us"]) {
      s.step_time.per_token_s =
          read_number(doc, t["per_token_us"], join(tpath, "per_token_us"), 0.0) / 1e6;
    }
    if (s.step_time.base_s + s.step_time.per_token_s <= 0.0) {
      fail(doc, t, tpath, "base_ms and per_token_us not both zero: a step must take time");
    }
  }
  return s;
}

ScenarioChecks read_checks(const Doc& doc, const YAML::Node& node) {
  const std::string path = "checks";
  require_map(doc, node, path,
              {"invariants", "all_finished", "max_preemptions", "max_rejected",
               "max_queue_delay_p99_s"});
  ScenarioChecks c;
  if (node["invariants"]) c.invariants = read_bool(doc, node["invariants"], "checks.invariants");
  if (node["all_finished"]) c.all_finished = read_bool(doc, node["all_finished"], "checks.all_finished");
  if (node["max_preemptions"]) {
    c.max_preemptions = read_int(doc, node["max_preemptions"], "checks.max_preemptions", 0);
  }
  if (node["max_rejected"]) c.max_rejected = read_int(doc, node["max_rejected"], "checks.max_rejected", 0);
  if (node["max_queue_delay_p99_s"]) {
    c.max_queue_delay_p99_s =
        read_number(doc, node["max_queue_delay_p99_s"], "checks.max_queue_delay_p99_s", 0.0);
  }
  return c;
}

// A list of names, each one of `known`.
std::vector<std::string> read_names(const Doc& doc, const YAML::Node& node, const std::string& path,
                                    const std::vector<std::string>& known) {
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  if (!node.IsSequence() || node.size() == 0) {
    fail(doc, node, path, "a non-empty list of ops (" + list + "), got " + describe(node));
  }
  std::vector<std::string> names;
  for (const auto& item : node) {
    const std::string name = read_string(doc, item, path);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      fail(doc, item, path, "one of " + list + ", got " + describe(item));
    }
    names.push_back(name);
  }
  return names;
}

std::vector<std::int64_t> read_sizes(const Doc& doc, const YAML::Node& node, const std::string& path) {
  if (!node.IsSequence() || node.size() == 0) {
    fail(doc, node, path, "a non-empty list of integers >= 1, got " + describe(node));
  }
  std::vector<std::int64_t> sizes;
  for (const auto& item : node) sizes.push_back(read_int(doc, item, path, 1));
  return sizes;
}

ScenarioValidate read_validate(const Doc& doc, const YAML::Node& node,
                               const std::filesystem::path& base) {
  const std::string path = "validate";
  require_map(doc, node, path, {"suite", "ops"});
  ScenarioValidate v;
  if (node["suite"]) v.suite = base / read_string(doc, node["suite"], join(path, "suite"));
  if (node["ops"]) v.ops = read_names(doc, node["ops"], join(path, "ops"), known_ops());
  return v;
}

ScenarioBench read_bench(const Doc& doc, const YAML::Node& node) {
  const std::string path = "bench";
  require_map(doc, node, path,
              {"preset", "ops", "repetitions", "batch", "seqlen", "decode_batch"});
  ScenarioBench b;
  if (const YAML::Node preset = node["preset"]) {
    b.preset = read_string(doc, preset, join(path, "preset"));
    try {
      bench::shape_preset(b.preset);  // any case, as --preset
    } catch (const InputError&) {
      std::string list;
      for (const auto& n : bench::preset_names()) list += (list.empty() ? "" : ", ") + n;
      fail(doc, preset, join(path, "preset"), "one of " + list + ", got " + describe(preset));
    }
  }
  if (node["ops"]) b.ops = read_names(doc, node["ops"], join(path, "ops"), bench::bench_op_names());
  if (node["repetitions"]) b.repetitions = read_int(doc, node["repetitions"], join(path, "repetitions"), 1);
  if (node["batch"]) b.batches = read_sizes(doc, node["batch"], join(path, "batch"));
  if (node["seqlen"]) b.seqlens = read_sizes(doc, node["seqlen"], join(path, "seqlen"));
  if (node["decode_batch"]) b.decode_batches = read_sizes(doc, node["decode_batch"], join(path, "decode_batch"));
  return b;
}

}  // namespace

Scenario scenario_from_yaml(const YAML::Node& root, const std::string& file,
                            const std::filesystem::path& base_dir) {
  const Doc doc{file};
  require_map(doc, root, "",
              {"name", "model", "cache", "workload", "scheduler", "backend", "checks", "validate",
               "bench"});
  Scenario s;
  s.source = file;
  s.name = root["name"] ? read_string(doc, root["name"], "name")
                        : std::filesystem::path(file).stem().string();
  s.model = read_string(doc, required(doc, root, "", "model"), "model");
  // A config.json (or its directory) is found relative to the scenario.
  if (!find_model_preset(s.model)) {
    const std::filesystem::path local = base_dir / s.model;
    std::error_code ec;
    if (!std::filesystem::exists(local, ec)) {
      std::string names;
      for (const auto& p : model_preset_names()) names += (names.empty() ? "" : ", ") + p;
      fail(doc, root["model"], "model",
           "a model preset (" + names + ") or a config.json path relative to the scenario; '" +
               quote_for_message(s.model) + "' is neither (no file " + local.string() + ")");
    }
    s.model = local.string();
  }
  s.cache = read_cache(doc, required(doc, root, "", "cache"));
  s.workload = read_workload(doc, required(doc, root, "", "workload"), base_dir);
  if (root["scheduler"]) s.scheduler = read_scheduler(doc, root["scheduler"]);
  if (root["backend"]) {
    s.backend = read_string(doc, root["backend"], "backend");
    if (s.backend != "cpu" && s.backend != "cuda") {
      fail(doc, root["backend"], "backend", "cpu or cuda, got " + describe(root["backend"]));
    }
  }
  if (root["checks"]) s.checks = read_checks(doc, root["checks"]);
  if (root["validate"]) s.validate = read_validate(doc, root["validate"], base_dir);
  if (root["bench"]) s.bench = read_bench(doc, root["bench"]);
  return s;
}

namespace {

void apply_overrides(YAML::Node root, const std::vector<ScenarioOverride>& overrides,
                     const std::string& where) {
  const Doc doc{where};
  for (const ScenarioOverride& o : overrides) {
    try {
      set_path(root, o.path, o.yaml ? unmarked(parse(doc, o.value)) : YAML::Node(o.value));
    } catch (const InputError& e) {
      throw InputError(where, e.field(), e.expected());
    }
  }
}

}  // namespace

Scenario load_scenario(const std::filesystem::path& file,
                       const std::vector<ScenarioOverride>& overrides) {
  const Doc doc{file.string()};
  YAML::Node root = parse(doc, read_text(file.string()));
  if (root.IsMap()) apply_overrides(root, overrides, file.string() + " (overridden)");
  return scenario_from_yaml(root, file.string(), file.parent_path());
}

Scenario scenario_from_overrides(const std::vector<ScenarioOverride>& overrides,
                                 const std::string& where) {
  YAML::Node root(YAML::NodeType::Map);
  apply_overrides(root, overrides, where);
  return scenario_from_yaml(root, where, std::filesystem::current_path());
}

Scenario parse_scenario(const std::string& yaml_text, const std::string& where,
                        const std::filesystem::path& base_dir) {
  const Doc doc{where};
  return scenario_from_yaml(parse(doc, yaml_text), where, base_dir);
}

std::uint64_t ScenarioMemory::resolve() const {
  if (gpu.empty() && device_bytes == 0) return bytes;
  const std::size_t device = gpu.empty() ? device_bytes : gpu_memory(gpu, "cache.memory", "gpu").bytes;
  const std::size_t usable = MemoryBudget::fraction_of(device, utilization).resolve();
  return usable > reserve ? usable - reserve : 0;
}

std::string ScenarioMemory::describe() const {
  if (gpu.empty() && device_bytes == 0) return format_bytes(bytes);
  const std::size_t device = gpu.empty() ? device_bytes : gpu_memory(gpu, "cache.memory", "gpu").bytes;
  std::ostringstream os;
  os << utilization << " x " << (gpu.empty() ? "" : gpu + " ") << "(" << format_bytes(device)
     << ")";
  if (reserve > 0) os << " - " << format_bytes(reserve);
  os << " = " << format_bytes(resolve());
  return os.str();
}

}  // namespace ssmkit
