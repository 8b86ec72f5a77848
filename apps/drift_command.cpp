#include "drift_command.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <iostream>
#include <memory>

#include "backends.hpp"
#include "drift_report.hpp"
#include "progress_bar.hpp"
#include "report_output.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "ssmkit/model/units.hpp"

namespace ssmkit::app {
namespace {

// Flags are reported as "ssmkit drift: --flag: ...": the prefix is the command's.
const std::string kWhere;

struct DriftArgs {
  std::string model;
  std::string backend = "cpu";
  std::string steps = "1000,10000,100000";
  std::string state_dtypes = "float32,bfloat16,float16";
  std::string rounding = "nearest";
  std::int64_t threads = 0;
  SyntheticInputOptions synthetic;
  std::string inputs_path;
  std::string json_path, csv_path, svg_path;
};

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// Decode steps count tokens: the same spellings as budget's --context (1k = 1024).
std::vector<std::int64_t> parse_checkpoints(const std::string& list) {
  std::vector<std::int64_t> out;
  for (const auto& item : split_list(list)) out.push_back(parse_token_count(item, kWhere, "--steps"));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<DType> parse_state_dtypes(const std::string& list) {
  std::vector<DType> out;
  for (const auto& item : split_list(list)) {
    const auto d = parse_dtype(item);
    if (!d || !(*d == DType::float32 || *d == DType::bfloat16 || *d == DType::float16)) {
      throw InputError(kWhere, "--state-dtypes",
                       "a comma-separated list of float32, bfloat16, float16 (fp32, bf16, fp16), "
                       "got \"" + item + "\"");
    }
    if (std::find(out.begin(), out.end(), *d) == out.end()) out.push_back(*d);
  }
  return out;
}

// Every decode step allocates and frees state-sized buffers (op params and results are
// values). By default glibc returns each freed one to the kernel and faults it in again on
// the next step, which costs more than the steps' arithmetic: keep them in the heap.
void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest on 64-bit systems
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

int run_drift_command(const DriftArgs& args) {
  keep_freed_memory();
  try {
    DriftOptions options;
    options.checkpoints = parse_checkpoints(args.steps);
    options.state_dtypes = parse_state_dtypes(args.state_dtypes);
    const auto rounding = parse_rounding(args.rounding);
    if (!rounding) {
      throw InputError(kWhere, "--rounding", "nearest or stochastic, got \"" + args.rounding + "\"");
    }
    options.rounding = *rounding;
    options.seed = args.synthetic.seed;
    options.threads = args.threads;
    // The CPU backend keeps no state between calls: its lanes may step on the workers.
    options.reentrant_backend = args.backend == "cpu";
    for (const auto& [path, flag] : {std::pair{args.json_path, "--json"}, std::pair{args.csv_path, "--csv"},
                                     std::pair{args.svg_path, "--svg"}}) {
      if (!path.empty()) check_output_file(path, flag);
    }
    const ModelSpec model = resolve_model(args.model);

    std::vector<DriftLayer> layers;
    if (!args.inputs_path.empty()) {
      layers = drift_layers_from_file(args.inputs_path, model);
    } else {
      for (const LayerKind kind : drift_layer_kinds(model)) {
        layers.push_back(synthetic_drift_layer(model, kind, args.synthetic));
      }
    }

    std::unique_ptr<Backend> backend, reference;
    try {
      backend = make_backend(args.backend);
      reference = make_backend("cpu");
    } catch (const BackendUnavailable& e) {
      std::cerr << "ssmkit drift: " << e.what() << '\n';
      return 2;
    }

    DriftReport report;
    report.model = model.name;
    report.model_source = model.source;
    report.backend = backend->name();
    report.backend_device = backend->device_description();
    report.reference_device = reference->device_description();
    report.inputs = args.inputs_path.empty()
                        ? "synthetic, seed " + std::to_string(args.synthetic.seed)
                        : "recorded trace " + args.inputs_path;
    report.prefill = args.inputs_path.empty() ? args.synthetic.prefill : 0;
    report.options = options;
    for (const DriftLayer& layer : layers) {
      ProgressBar bar("drift " + std::string(layer_kind_name(layer.kind)), options.checkpoints.back());
      report.layers.push_back(run_drift(*backend, *reference, layer, options,
                                        [&](std::int64_t done, std::int64_t) { bar.update(done); }));
    }
    print_drift_table(std::cout, report);
    if (!args.json_path.empty()) write_drift_json(args.json_path, report);
    if (!args.csv_path.empty()) write_drift_csv(args.csv_path, report);
    if (!args.svg_path.empty()) write_drift_svg(args.svg_path, report);
    return 0;
  } catch (const InputError& e) {
    std::cerr << "ssmkit drift: " << e.what() << '\n';
    return 2;
  }
}

}  // namespace

void add_drift_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<DriftArgs>();
  CLI::App* cmd = app.add_subcommand(
      "drift",
      "How far a float32, bfloat16 or float16 recurrent state drifts from float64 over a long decode");
  cmd->add_option("--model", args->model, "a preset name or the path of an HF config.json")->required();
  cmd->add_option("--backend", args->backend, "cpu or cuda: whose decode kernels run the state")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--steps", args->steps,
                  "checkpoints, comma-separated decode step counts (1k = 1024); the run ends at the last")
      ->capture_default_str();
  cmd->add_option("--state-dtypes", args->state_dtypes, "state dtypes to compare, comma-separated")
      ->capture_default_str();
  cmd->add_option("--rounding", args->rounding,
                  "nearest or stochastic: how a 16-bit state is rounded when it is stored")
      ->capture_default_str();
  auto* inputs = cmd->add_option("--inputs", args->inputs_path,
                                 "a recorded activation trace (HDF5, datasets in docs/drift.md) instead "
                                 "of synthetic inputs");
  auto& s = args->synthetic;
  for (CLI::Option* o :
       {cmd->add_option("--batch", s.batch, "sequences decoded side by side")->capture_default_str(),
        cmd->add_option("--heads", s.heads,
                        "Mamba2, lightning, Gated DeltaNet and KDA (value) heads to run (0: all)")
            ->capture_default_str(),
        cmd->add_option("--channels", s.channels, "Mamba1 channels to run (0: all)")->capture_default_str(),
        cmd->add_option("--prefill", s.prefill, "tokens of exact float64 prefill before the decode")
            ->capture_default_str(),
        cmd->add_option("--dt-min", s.dt_min, "smallest dt the dt_bias draw gives")->capture_default_str(),
        cmd->add_option("--dt-max", s.dt_max, "largest dt the dt_bias draw gives")->capture_default_str()}) {
    o->excludes(inputs);
  }
  cmd->add_option("--threads", args->threads,
                  "host threads for the float64 reference and the host rounding (0: one per core)")
      ->capture_default_str();
  cmd->add_option("--seed", s.seed, "seed of the synthetic inputs and the stochastic rounding draws")
      ->capture_default_str();
  cmd->add_option("--json", args->json_path, "write every number as JSON to FILE");
  cmd->add_option("--csv", args->csv_path, "write one row per layer kind, dtype and step to FILE");
  cmd->add_option("--svg", args->svg_path, "write a log-log chart of the state error against step to FILE");
  cmd->callback([args, exit_code] { *exit_code = run_drift_command(*args); });
}

}  // namespace ssmkit::app
