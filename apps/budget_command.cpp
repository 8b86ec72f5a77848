#include "budget_command.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include "budget_report.hpp"
#include "budget_vllm.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/gpu_table.hpp"
#include "ssmkit/model/units.hpp"

namespace ssmkit::app {
namespace {

// Flags are reported as "ssmkit budget: --flag: ...": the prefix is the command's.
const std::string kWhere;

struct BudgetArgs {
  std::vector<std::string> models;
  std::string gpu_mem, gpu;
  double utilization = 0.9;
  std::string reserve;  // empty: auto for --engine vllm without --kv-memory, else 0
  std::string tp = "1";
  std::string state_dtype = "float32", conv_dtype = "bfloat16", kv_dtype = "bfloat16";
  std::int64_t page_size = 16;
  std::string contexts = "1k,8k,32k,128k,1M";
  std::string json_path, csv_path, svg_path;
  std::string engine = "ssmkit";
  VllmBudgetArgs vllm;
  std::set<std::string> given;  // the flags on the command line
};

DType cache_dtype(const std::string& flag, const std::string& name) {
  const auto d = parse_dtype(name);
  if (!d || !is_cache_dtype(*d)) {
    throw InputError(kWhere, flag,
                     "float32, bfloat16, float16 or float64 (fp32, bf16, fp16), got \"" + name + "\"");
  }
  return *d;
}

// A comma list of cache dtypes, in order, without repeats.
std::vector<DType> dtype_list(const std::string& flag, const std::string& list) {
  std::vector<DType> out;
  for (const std::string& item : comma_values(list, flag)) {
    const DType d = cache_dtype(flag, item);
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  }
  return out;
}

// Ascending and without repeats, so that the chart's lines run left to right.
std::vector<std::int64_t> parse_contexts(const std::string& list) {
  std::vector<std::int64_t> out;
  for (const std::string& item : comma_values(list, "--context")) {
    out.push_back(parse_token_count(item, kWhere, "--context"));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// --tp: one degree, or a comma list (a row each). CLI11 would saturate longer numbers, so
// each value is read here and bounded.
std::vector<std::int64_t> parse_tp(const std::string& list) {
  std::vector<std::int64_t> out;
  for (const std::string& item : comma_values(list, "--tp")) {
    std::int64_t v = 0;
    const bool digits = item.size() <= 6 &&
                        std::all_of(item.begin(), item.end(), [](unsigned char c) { return std::isdigit(c); });
    if (digits) v = std::stoll(item);
    if (!digits || v < 1 || v > kMaxTensorParallel) {
      throw InputError(kWhere, "--tp", "1 to " + std::to_string(kMaxTensorParallel) +
                                           " ranks (or a comma list of them), got \"" + item + "\"");
    }
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

// Whether the weights are counted from the config: --reserve auto, and the default of
// --engine vllm when neither --kv-memory nor a reserve is given.
bool reserve_auto(const BudgetArgs& args) {
  if (args.reserve == "auto") return true;
  return args.reserve.empty() && args.engine == "vllm" && args.vllm.kv_memory.empty();
}

BudgetSource derive_budget(const BudgetArgs& args) {
  BudgetSource b;
  if (!(args.utilization > 0.0 && args.utilization <= 1.0)) {
    std::ostringstream got;
    got << args.utilization;
    throw InputError(kWhere, "--utilization", "a fraction in (0, 1], got " + got.str());
  }
  if (!args.gpu_mem.empty()) {
    b.device_memory_bytes = parse_byte_size(args.gpu_mem, kWhere, "--gpu-mem");
    if (b.device_memory_bytes == 0) throw InputError(kWhere, "--gpu-mem", "a positive size, got 0");
    b.device_description = "--gpu-mem " + args.gpu_mem;
  } else {
    const GpuMemory& g = gpu_memory(args.gpu.empty() ? "h100" : args.gpu, kWhere, "--gpu");
    b.gpu = std::string(g.name);
    b.device_memory_bytes = g.bytes;
    b.device_description = std::string(g.name) + ": " + std::string(g.description);
    b.device_memory_source = std::string(g.source);
  }
  b.utilization = args.utilization;
  if (args.reserve == "auto" && args.engine != "vllm") {
    throw InputError(kWhere, "--reserve", "a size for --engine ssmkit (auto counts weights at vLLM's served dtype: "
                                          "give --engine vllm), got auto");
  }
  b.reserve_bytes = reserve_auto(args) ? 0 : parse_byte_size(args.reserve.empty() ? "0" : args.reserve, kWhere,
                                                             "--reserve");
  const std::size_t usable = MemoryBudget::fraction_of(b.device_memory_bytes, b.utilization).resolve();
  if (usable == 0) {  // the reserve is not what left nothing
    throw InputError(kWhere, args.gpu_mem.empty() ? "--utilization" : "--gpu-mem/--utilization",
                     "at least one byte of utilization x device memory, got 0 B");
  }
  if (b.reserve_bytes >= usable) {
    throw InputError(kWhere, "--reserve",
                     "less than utilization x device memory (" + std::to_string(usable) +
                         " B), got " + std::to_string(b.reserve_bytes) + " B");
  }
  b.budget_bytes = usable - b.reserve_bytes;
  return b;
}

// Each engine's own flags are refused by the other, naming the flag.
void check_engine_flags(const BudgetArgs& args) {
  if (args.engine != "ssmkit" && args.engine != "vllm") {
    throw InputError(kWhere, "--engine", "ssmkit or vllm, got \"" + args.engine + "\"");
  }
  const bool vllm = args.engine == "vllm";
  for (const std::string& flag : vllm ? ssmkit_only_flags() : vllm_only_flags()) {
    if (args.given.count(flag) > 0) {
      throw InputError(kWhere, flag,
                       vllm ? "a flag of --engine ssmkit; --engine vllm takes vLLM's own flags (see docs/budget-vllm.md)"
                            : "a flag of --engine vllm (give --engine vllm to use it)");
    }
  }
}

int run_budget(const BudgetArgs& args) {
  try {
    check_engine_flags(args);
    CacheSettings settings;
    const std::vector<std::int64_t> tps = parse_tp(args.tp);
    if (args.page_size < 1 || args.page_size > kMaxPageSize) {
      throw InputError(kWhere, "--page-size", "1 to " + std::to_string(kMaxPageSize) + " tokens, got " +
                                                  std::to_string(args.page_size));
    }
    if (args.engine == "vllm") {
      VllmBudgetRun run;
      run.models = args.models;
      run.args = args.vllm;
      run.device = derive_budget(args);
      run.reserve_auto = reserve_auto(args);
      run.tensor_parallel = tps;
      run.contexts = parse_contexts(args.contexts);
      run.json_path = args.json_path;
      run.csv_path = args.csv_path;
      run.svg_path = args.svg_path;
      run.given = args.given;
      run_vllm_budget(run);
      return 0;
    }
    settings.page_size = args.page_size;
    settings.max_requests = 1;
    // Every combination of the listed degrees and dtypes is a row.
    std::vector<CacheSettings> rows;
    const auto states = dtype_list("--state-dtype", args.state_dtype);
    const auto convs = dtype_list("--conv-dtype", args.conv_dtype);
    const auto kvs = dtype_list("--kv-dtype", args.kv_dtype);
    for (const std::int64_t tp : tps) {
      for (const DType state : states) {
        for (const DType conv : convs) {
          for (const DType kv : kvs) {
            CacheSettings row = settings;
            row.tensor_parallel = tp;
            row.ssm_dtype = state;
            row.linear_attention_dtype = state;
            row.conv_dtype = conv;
            row.kv_dtype = kv;
            rows.push_back(row);
          }
        }
      }
    }
    const std::vector<std::int64_t> contexts = parse_contexts(args.contexts);
    const BudgetSource budget = derive_budget(args);
    std::vector<ModelSpec> models;
    for (const auto& m : args.models) models.push_back(resolve_model(m));

    const BudgetReport report = compute_budget(models, budget, rows, contexts);
    print_budget_table(std::cout, report);
    if (!args.json_path.empty()) write_budget_json(args.json_path, report);
    if (!args.csv_path.empty()) write_budget_csv(args.csv_path, report);
    if (!args.svg_path.empty()) write_budget_svg(args.svg_path, report);
    return 0;
  } catch (const InputError& e) {
    std::cerr << "ssmkit budget: " << e.what() << '\n';
    return 2;
  }
}

}  // namespace

void add_budget_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<BudgetArgs>();
  CLI::App* cmd = app.add_subcommand(
      "budget",
      "How many sequences of each model fit in a GPU's cache memory at each context length");
  cmd->add_option("--model", args->models,
                  "a preset name or the path of an HF config.json; repeat to compare models")
      ->required();
  auto* gpu = cmd->add_option("--gpu", args->gpu,
                              "a GPU whose memory the budget is a fraction of (h100, h200, "
                              "a100-80gb, a100-40gb, l40s, l4, a10, t4; default h100)");
  cmd->add_option("--gpu-mem", args->gpu_mem, "the GPU memory instead: 80GiB, 80GB, 81920MiB, bytes")
      ->excludes(gpu);
  cmd->add_option("--utilization", args->utilization,
                  "fraction of the GPU memory the engine may use (vLLM's gpu_memory_utilization)")
      ->capture_default_str();
  cmd->add_option("--reserve", args->reserve,
                  "memory within that fraction not for caches (weights, activations), e.g. 20GiB; auto: the "
                  "weights counted from the config (--engine vllm; its default without --kv-memory), else 0");
  cmd->add_option("--tp", args->tp, "tensor-parallel degree, or a comma list (a row each); numbers are one rank's share")
      ->capture_default_str();
  cmd->add_option("--state-dtype", args->state_dtype, "SSM and lightning state dtype; a comma list gives a row each")
      ->capture_default_str();
  cmd->add_option("--conv-dtype", args->conv_dtype, "conv window dtype")->capture_default_str();
  cmd->add_option("--kv-dtype", args->kv_dtype, "KV cache dtype")->capture_default_str();
  cmd->add_option("--page-size", args->page_size, "tokens per KV page")->capture_default_str();
  cmd->add_option("--context", args->contexts,
                  "context lengths, comma-separated; k = 1024, M = 1024^2")
      ->capture_default_str();
  cmd->add_option("--json", args->json_path, "write every number and setting as JSON to FILE");
  cmd->add_option("--csv", args->csv_path, "write one row per model and context to FILE");
  cmd->add_option("--svg", args->svg_path,
                  "write a chart to FILE: sequences that fit (ssmkit) or vLLM's maximum concurrency against context");
  cmd->add_option("--engine", args->engine,
                  "whose cache layout and arithmetic: ssmkit, or vllm (vLLM v1's pool, its own flag names; "
                  "docs/budget-vllm.md)")
      ->capture_default_str();
  add_vllm_budget_options(cmd, args->vllm);
  cmd->callback([args, exit_code, cmd] {
    for (const CLI::Option* opt : cmd->get_options()) {
      if (opt->count() > 0) args->given.insert(opt->get_name());
    }
    *exit_code = run_budget(*args);
  });
}

}  // namespace ssmkit::app
