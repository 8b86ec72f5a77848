#include "golden_command.hpp"

#include <algorithm>
#include <iostream>
#include <memory>

#include "backends.hpp"
#include "report_output.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/golden_make.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "ssmkit/name_match.hpp"
#include "ssmkit/op_case.hpp"

namespace ssmkit::app {
namespace {

struct MakeArgs {
  std::string op, model, dtype = "float32", state_dtype = "float32", out;
  std::int64_t batch = 1, seqlen = 64, page_size = 16, varlen = 0;
  std::uint64_t seed = 0;
  bool initial_states = false;
  std::vector<std::string> without, dims;
};

DType float_dtype(const std::string& name, const char* flag) {
  auto d = parse_dtype(name);
  if (!d || !is_floating(*d)) {
    throw InputError(flag, name, "expected float32, float64, bfloat16 or float16");
  }
  return *d;
}

bool op_takes(const std::string& op, const std::string& input) {
  GoldenCase probe;
  probe.op = op;
  const auto inputs = golden_names_of(probe).inputs;
  return std::find(inputs.begin(), inputs.end(), input) != inputs.end();
}

// The op's case at the model's shapes, with --dim overrides and the call options.
bench::BenchCase make_case(const MakeArgs& a, DType dtype) {
  const ModelSpec model = resolve_model(a.model);
  bench::SweepOptions sweep;
  sweep.batches = {a.batch}, sweep.decode_batches = {a.batch}, sweep.seqlens = {a.seqlen};
  sweep.dtypes = {dtype}, sweep.state_dtypes = {float_dtype(a.state_dtype, "--state-dtype")};
  sweep.ops = {a.op};
  auto cases = bench::make_cases(bench::shape_preset_for(model, a.page_size), sweep);
  if (cases.empty()) {
    throw InputError("--model", a.model, "has no layer that runs " + a.op);
  }
  bench::BenchCase c = cases.front();
  for (const auto& d : a.dims) {
    const auto eq = d.find('=');
    const std::string key = d.substr(0, eq);
    // Sizes are positive; per_head (selective_state_update's Mamba2 layout) is 0 or 1.
    const std::int64_t lowest = key == "per_head" ? 0 : 1;
    std::int64_t value = 0;
    try {
      if (eq == std::string::npos) throw std::invalid_argument(d);
      std::size_t used = 0;
      value = std::stoll(d.substr(eq + 1), &used);
      if (used != d.size() - eq - 1 || value < lowest) throw std::invalid_argument(d);
    } catch (const std::exception&) {
      throw InputError("--dim", d, "expected NAME=INTEGER of at least " + std::to_string(lowest));
    }
    if (!c.dims.count(key)) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : c.dims) keys.push_back(k);
      throw InputError("--dim", key, "not a dimension of " + a.op + "; its dimensions: " +
                                         join_names(keys));
    }
    c.dims[key] = value;
  }
  if (a.initial_states) {
    if (!op_takes(a.op, "initial_states") && !op_takes(a.op, "initial_state")) {
      throw InputError("--initial-states", a.op, "this op takes no initial state");
    }
    c.dims["initial_states"] = 1;
  }
  if (a.varlen != 0) {
    if (!op_takes(a.op, "cu_seqlens")) throw InputError("--varlen", a.op, "this op takes no packed sequences");
    if (c.dims.at("batch") != 1) throw InputError("--varlen", std::to_string(a.varlen), "packed sequences need --batch 1");
    if (a.varlen < 1 || a.varlen > c.dims.at("seqlen")) {
      throw InputError("--varlen", std::to_string(a.varlen), "expected 1 to --seqlen sequences");
    }
    c.dims["varlen_seqs"] = a.varlen;
  }
  c.seed = a.seed;
  return c;
}

// The case's dimensions after --dim and the options: "batch=2 dim=8 seqlen=5 width=4".
std::string dims_text(const bench::BenchCase& c) {
  std::string out;
  for (const auto& [k, v] : c.dims) out += (out.empty() ? "" : " ") + k + "=" + std::to_string(v);
  return out;
}

int run_make(const MakeArgs& a) {
  const auto ops = bench::bench_op_names();
  if (std::find(ops.begin(), ops.end(), a.op) == ops.end()) {
    std::string msg = "unknown op; expected one of " + join_names(ops);
    if (auto near = closest_name(a.op, ops, 3)) msg = "unknown op; did you mean '" + *near + "'? Ops: " + join_names(ops);
    throw InputError("--op", a.op, msg);
  }
  for (const auto& [flag, v] : {std::pair{"--batch", a.batch}, {"--seqlen", a.seqlen}, {"--page-size", a.page_size}}) {
    if (v < 1 || v > (std::int64_t{1} << 24)) throw InputError(flag, std::to_string(v), "expected 1 to 16777216");
  }
  const DType dtype = float_dtype(a.dtype, "--dtype");
  check_output_file(a.out, "-o");
  const bench::BenchCase c = make_case(a, dtype);
  GoldenMakeRequest request;
  request.call = c.make_params();
  request.without = a.without;
  request.provenance = {{"seed", std::vector<double>{static_cast<double>(a.seed)}},
                        {"model", a.model},
                        {"generator_case", c.name},
                        {"generator_dims", dims_text(c)}};
  if (c.state_dtype) request.provenance["state_dtype"] = std::string(dtype_name(*c.state_dtype));
  auto reference = make_backend("cpu");
  const GoldenCase golden = make_golden(request, *reference, a.out);
  std::cout << "wrote " << a.out << ": " << golden.op << " "
            << make_op_case(golden)->shape_summary() << " " << a.dtype
            << " seed " << a.seed << "; inputs:";
  for (const auto& [name, t] : golden.inputs) std::cout << ' ' << name << shape_str(t.shape());
  std::cout << "; outputs:";
  for (const auto& [name, t] : golden.outputs) std::cout << ' ' << name << shape_str(t.shape());
  std::cout << '\n';
  return 0;
}

}  // namespace

void add_golden_command(CLI::App& app, int* exit_code) {
  CLI::App* golden = app.add_subcommand("golden", "Make golden files");
  golden->require_subcommand(1);
  auto a = std::make_shared<MakeArgs>();
  CLI::App* cmd = golden->add_subcommand(
      "make", "Write a golden for an op at a model's shapes: seeded random inputs, outputs from "
              "the float64 CPU reference (a consistency check, not an independent reference)");
  cmd->add_option("--op", a->op, "the op (the names of docs/golden-format.md)")->required();
  cmd->add_option("--model", a->model, "a model preset name or a HF config.json (or its directory)")
      ->required();
  cmd->add_option("--batch", a->batch, "batch size (decode ops: sequences)")->capture_default_str();
  cmd->add_option("--seqlen", a->seqlen, "sequence length of prefill ops")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "the dtype the inputs stand for (input_dtype)")->capture_default_str();
  cmd->add_option("--state-dtype", a->state_dtype, "selective_state_update's state dtype")
      ->capture_default_str();
  cmd->add_option("--page-size", a->page_size, "KV page size of paged_kv ops")->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed of the inputs")->capture_default_str();
  cmd->add_option("--dim", a->dims, "override one dimension of the model's case: NAME=VALUE (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->expected(1)
      ->allow_extra_args(false);
  cmd->add_option("--without", a->without, "leave an optional input out, as None (repeatable): D, z, bias, ...")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->expected(1)
      ->allow_extra_args(false);
  cmd->add_flag("--initial-states", a->initial_states, "give the call random initial states");
  cmd->add_option("--varlen", a->varlen, "pack N sequences into the batch-1 call (cu_seqlens, seq_idx)");
  cmd->add_option("-o,--output", a->out, "the golden file to write")->required();
  cmd->callback([a, exit_code] { *exit_code = run_make(*a); });
}

}  // namespace ssmkit::app
