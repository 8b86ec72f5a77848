#include "bench_command.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <new>

#include "backends.hpp"
#include "bench_report.hpp"
#include "cpu/cpu_backend.hpp"
#include "report_output.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit::app {
namespace {

struct BenchArgs {
  std::string backend = "all";
  std::vector<std::string> presets, ops;
  std::vector<std::int64_t> batches, seqlens, decode_batches;
  std::vector<std::string> dtypes, state_dtypes;
  std::vector<std::int64_t> copy_sizes_mib;  // extra memory_copy rows
  int copies = 0;  // 0: bench::default_copies
  bool check = true, graph = true, list = false;
  double check_flops = 1e8;
  std::string json_path;
};

std::vector<DType> parse_dtypes(const std::vector<std::string>& names, const char* flag) {
  std::vector<DType> out;
  for (const auto& n : names) {
    auto d = parse_dtype(n);
    if (!d || (*d != DType::float32 && *d != DType::bfloat16 && *d != DType::float16)) {
      throw InputError(flag, n, "expected float32, bfloat16 or float16");
    }
    out.push_back(*d);
  }
  return out;
}

// The row being timed owns the only prepared op: a row's device memory is released when
// the next row starts.
class Runner {
 public:
  Runner(Backend& backend, CpuBackend& reference, const BenchArgs& args)
      : backend_(backend), reference_(reference), args_(args) {}

  void run(BenchRow& row, benchmark::State& state) {
    if (!row.skip.empty()) {
      state.SkipWithError(row.skip.c_str());
      return;
    }
    if (active_ != &row) {
      if (!activate(row)) {
        state.SkipWithError(row.skip.c_str());
        return;
      }
    }
    // One iteration is one pass: a call on every input set. Google Benchmark's time is per
    // pass; the rates, ours and its, are per call.
    const double calls = op_->copies();
    double total = 0.0;
    for (auto _ : state) {
      const double seconds = op_->time_pass();
      state.SetIterationTime(seconds);
      row.samples.push_back(seconds / calls);
      total += seconds;
    }
    const double iterations = static_cast<double>(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(row.traffic.bytes * calls * iterations));
    state.counters["FLOP/s"] =
        benchmark::Counter(row.traffic.flops * calls, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["calls_per_pass"] = calls;
    state.counters["us_per_call"] = iterations > 0 ? total / iterations / calls * 1e6 : 0.0;
    row.timer = op_->timer();  // after the passes: one may have changed how the rest were timed
  }

 private:
  bool activate(BenchRow& row) {
    op_.reset();
    active_ = &row;
    const auto start = std::chrono::steady_clock::now();
    struct SetupTime {  // how long inputs, upload and check took, for the report
      BenchRow& row;
      std::chrono::steady_clock::time_point start;
      ~SetupTime() {
        row.setup_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    } setup_time{row, start};
    try {
      const OpParams params = row.bench_case.op == "memory_copy"
                                  ? OpParams{MemoryCopyParams{row.copy_bytes}}
                                  : row.bench_case.make_params();
      row.traffic = bench::traffic(params);
      // --copies is for the ops' input sets; a copy row's own size already passes the cache,
      // and 1 GiB times a large --copies would not fit and lose every "% BW".
      const bool own_copies = args_.copies > 0 && row.bench_case.op != "memory_copy";
      const int copies = own_copies ? args_.copies : bench::default_copies(row.traffic);
      op_ = backend_.prepare(params, PrepareOptions{copies, row.graph});
      row.copies = op_->copies();
      if (row.bench_case.op == "memory_copy") {
        row.check_note = "-";
      } else if (backend_.name() == "cpu") {
        row.check_note = "CPU reference";
      } else if (!args_.check) {
        row.check_note = "not checked (--no-check)";
      } else {
        op_->run(0);  // the first call on set 0: its outputs answer the unmodified inputs
        row.check = bench::check_outputs(params, op_->outputs(0), reference_, args_.check_flops);
      }
      for (int i = 0; i < 2; ++i) op_->time_pass();  // warm-up
      return true;
    } catch (const std::bad_alloc&) {
      op_.reset();
      row.skip = std::string(backend_.name()) +
                 ": not enough host memory for this case's inputs (std::bad_alloc)";
      return false;
    } catch (const std::exception& e) {
      op_.reset();
      row.skip = std::string(backend_.name()) + ": " + e.what();
      return false;
    }
  }

  Backend& backend_;
  CpuBackend& reference_;
  const BenchArgs& args_;
  std::unique_ptr<PreparedOp> op_;
  const BenchRow* active_ = nullptr;
};

// The exact command, for the report (Linux: the process's own argument list).
std::string command_line() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string line;
  for (std::size_t i = 0; i < all.size(); ++i) {
    line += all[i] == '\0' ? ' ' : all[i];
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line.empty() ? "ssmkit bench" : line;
}

// Google Benchmark answers a bad value of these with its usage text and exit status 0, so
// they are checked here first.
void check_passthrough(const std::vector<std::string>& passthrough) {
  for (const auto& flag : passthrough) {
    const auto eq = flag.find('=');
    const std::string name = flag.substr(0, eq), value = eq == std::string::npos ? "" : flag.substr(eq + 1);
    if (name == "--benchmark_format" || name == "--benchmark_out_format") {
      if (value != "console" && value != "json" && value != "csv") {
        throw InputError(name, value, "expected console, json or csv");
      }
    } else if (name == "--benchmark_repetitions") {
      char* end = nullptr;
      const long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 1) throw InputError(name, value, "expected an integer >= 1");
    }
  }
}

// Order-preserving. make_cases merges a preset's repeated cases; a preset named twice would
// still give every row twice.
template <class T>
void drop_repeats(std::vector<T>& values) {
  std::vector<T> out;
  for (const auto& v : values) {
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  values = std::move(out);
}

std::vector<std::string> default_presets(const std::string& backend) {
  if (backend == "cpu") return {"tiny"};
  return {"mamba-2.8b", "mamba2-2.7b", "nemotron-h-8b", "minimax-text-01"};
}

int run_bench(const BenchArgs& args, const std::vector<std::string>& passthrough,
              const std::string& command) {
  std::cout << std::unitbuf;  // progress reaches a log file even if the run is cut short
  BenchReport report;
  report.command = command;
  bench::SweepOptions sweep;
  if (!args.batches.empty()) sweep.batches = args.batches;
  if (!args.seqlens.empty()) sweep.seqlens = args.seqlens;
  if (!args.decode_batches.empty()) sweep.decode_batches = args.decode_batches;
  if (!args.dtypes.empty()) sweep.dtypes = parse_dtypes(args.dtypes, "--dtype");
  if (!args.state_dtypes.empty()) {
    sweep.state_dtypes = parse_dtypes(args.state_dtypes, "--state-dtype");
    for (DType d : sweep.state_dtypes) {
      if (d == DType::float16) throw InputError("--state-dtype", "float16", "expected float32 or bfloat16");
    }
  }
  for (const auto& op : args.ops) {
    const auto known = bench::bench_op_names();
    if (std::find(known.begin(), known.end(), op) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw InputError("--op", op, "unknown op; expected one of " + list);
    }
  }
  sweep.ops = args.ops;
  // Bounds that keep every tensor's element count well inside 64 bits; a case too large for
  // the memory there is skipped with the reason when it is set up.
  auto check_sizes = [](const std::vector<std::int64_t>& values, const char* flag, std::int64_t max) {
    for (auto v : values) {
      if (v < 1 || v > max) {
        throw InputError(flag, std::to_string(v), "expected 1 to " + std::to_string(max));
      }
    }
  };
  check_sizes(sweep.batches, "--batch", std::int64_t{1} << 20);
  check_sizes(sweep.seqlens, "--seqlen", std::int64_t{1} << 24);
  check_sizes(sweep.decode_batches, "--decode-batch", std::int64_t{1} << 20);
  if (!std::isfinite(args.check_flops)) {
    throw InputError("--check-flops", std::to_string(args.check_flops), "expected a positive number");
  }
  for (auto v : args.copy_sizes_mib) {
    if (v < 1 || v > (std::int64_t{1} << 20)) throw InputError("--copy-sizes", std::to_string(v), "expected 1 to 1048576 MiB");
  }
  for (const auto& p : args.presets) bench::shape_preset(p);  // unknown names: exit 2 now
  check_passthrough(passthrough);
  if (!args.json_path.empty()) check_output_file(args.json_path, "--json");

  std::vector<std::unique_ptr<Backend>> backends;
  const std::vector<std::string> wanted =
      args.backend == "all" ? backend_names() : std::vector<std::string>{args.backend};
  for (const auto& name : wanted) {
    try {
      backends.push_back(make_backend(name));
      report.backends.push_back(name + " (" + backends.back()->device_description() + ")");
    } catch (const BackendUnavailable& e) {
      // Asked for by name, a missing backend is an error; under `all`, a visible skip.
      if (args.backend != "all") throw InputError("--backend", name, e.what());
      report.skipped.push_back({name, e.what()});
    }
  }

  for (const auto& backend : backends) {
    const std::string bname = backend->name();
    // The first copy row is the bandwidth reference of every "% BW"; the others show what a
    // transfer of their size reaches, the ceiling of a kernel that moves that many bytes.
    const std::int64_t reference_mib = bname == "cpu" ? 256 : 1024;
    std::vector<std::int64_t> copy_mib{reference_mib};
    for (auto mib : args.copy_sizes_mib) {
      if (std::find(copy_mib.begin(), copy_mib.end(), mib) == copy_mib.end()) copy_mib.push_back(mib);
    }
    for (auto mib : copy_mib) {
      BenchRow copy;
      copy.backend = bname;
      copy.bench_case.op = "memory_copy";
      copy.bench_case.preset = "-";
      copy.copy_bytes = mib << 20;
      copy.bandwidth_reference = mib == reference_mib;
      copy.bench_case.shape = std::to_string(mib) + " MiB";
      copy.bench_case.name = "memory_copy/" + std::to_string(mib) + "MiB";
      report.rows.push_back(copy);
    }
    auto presets = args.presets.empty() ? default_presets(bname) : args.presets;
    drop_repeats(presets);
    for (const auto& preset_name : presets) {
      for (const auto& c : bench::make_cases(bench::shape_preset(preset_name), sweep)) {
        BenchRow row;
        row.backend = bname;
        row.bench_case = c;
        report.rows.push_back(row);
        if (c.decode && args.graph && bname == "cuda") {
          row.graph = true;
          report.rows.push_back(row);
        }
      }
    }
  }

  for (const auto& op : sweep.ops) {
    if (backends.empty()) break;
    const bool has_case = std::any_of(report.rows.begin(), report.rows.end(),
                                      [&](const BenchRow& r) { return r.bench_case.op == op; });
    if (!has_case) {
      throw InputError("--op", op, "no preset given has a layer this op runs on (`ssmkit bench --list` "
                                   "shows the cases)");
    }
  }

  if (args.list) {
    for (const auto& r : report.rows) std::cout << r.name() << '\n';
    for (const auto& [what, why] : report.skipped) std::cout << "SKIP " << what << ": " << why << '\n';
    return 0;
  }

  CpuBackend reference;
  std::vector<std::unique_ptr<Runner>> runners;
  for (const auto& backend : backends) {
    runners.push_back(std::make_unique<Runner>(*backend, reference, args));
    Runner* runner = runners.back().get();
    for (auto& row : report.rows) {
      if (row.backend != backend->name()) continue;
      BenchRow* r = &row;
      benchmark::RegisterBenchmark(row.name().c_str(), [runner, r](benchmark::State& st) { runner->run(*r, st); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  // Google Benchmark's own flags pass through; ours first so that the user's win.
  std::vector<std::string> gb_args = {"ssmkit bench", "--benchmark_min_time=0.1"};
  gb_args.insert(gb_args.end(), passthrough.begin(), passthrough.end());
  std::vector<char*> argv;
  for (auto& a : gb_args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  benchmark::Initialize(&argc, argv.data());
  if (benchmark::ReportUnrecognizedArguments(argc, argv.data())) return 2;
  if (!report.rows.empty()) benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  // Rows a --benchmark_filter left out are not reported.
  std::erase_if(report.rows, [](const BenchRow& r) { return r.samples.empty() && r.skip.empty(); });
  if (report.rows.empty() && !backends.empty()) {
    std::cerr << "ssmkit bench: no row ran: --benchmark_filter matched none of them (`ssmkit bench "
                 "--list` shows their names)\n";
    return 2;
  }
  print_markdown(std::cout, report);
  if (!args.json_path.empty()) write_bench_json(args.json_path, report);
  return report.failed_checks() > 0 ? 1 : 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Time every op at model shapes against the device's copy bandwidth, checking each "
      "result against the CPU reference; --benchmark_* flags go to Google Benchmark");
  cmd->allow_extras();
  cmd->add_option("--backend", args->backend, "cpu, cuda or all (all skips, visibly, what is unavailable)")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}))
      ->capture_default_str();
  cmd->add_option("--preset", args->presets,
                  "shape presets (mamba-2.8b, mamba2-2.7b, nemotron-h-8b, minimax-text-01, tiny); "
                  "default: all but tiny on cuda, tiny on cpu")
      ->delimiter(',');
  cmd->add_option("--op", args->ops, "only these ops")->delimiter(',');
  cmd->add_option("--batch", args->batches, "prefill batch sizes (default 1,8)")->delimiter(',');
  cmd->add_option("--seqlen", args->seqlens, "prefill sequence lengths (default 2048,4096)")->delimiter(',');
  cmd->add_option("--decode-batch", args->decode_batches, "decode batch sizes (default 1,64,256)")
      ->delimiter(',');
  cmd->add_option("--dtype", args->dtypes, "activation dtypes (default bfloat16)")->delimiter(',');
  cmd->add_option("--state-dtype", args->state_dtypes,
                  "selective_state_update state dtypes (default float32,bfloat16)")
      ->delimiter(',');
  cmd->add_option("--copy-sizes", args->copy_sizes_mib,
                  "also time copies of buffers of these sizes in MiB (each read once, written "
                  "once): the bandwidth a kernel moving as many bytes can reach")
      ->delimiter(',');
  cmd->add_option("--copies", args->copies,
                  "input sets rotated per pass, for the ops (default: enough to touch 256 MiB, at "
                  "most 64; copy rows always use the default)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("!--no-check", args->check, "skip the comparison with the CPU reference");
  cmd->add_flag("!--no-graph", args->graph, "do not also time decode ops as CUDA graph replays");
  cmd->add_option("--check-flops", args->check_flops,
                  "reference work per check; larger checks more batch rows/heads (default 1e8)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--list", args->list, "print the benchmark names and exit");
  cmd->add_option("--json", args->json_path, "write every row as JSON to FILE");
  cmd->callback([args, exit_code, cmd] {
    std::vector<std::string> passthrough;
    for (const auto& extra : cmd->remaining()) {
      if (extra.rfind("--benchmark_", 0) != 0) {
        throw InputError("ssmkit bench", extra,
                         "unknown argument; only --benchmark_* flags pass through to Google Benchmark");
      }
      passthrough.push_back(extra);
    }
    *exit_code = run_bench(*args, passthrough, command_line());
  });
}

}  // namespace ssmkit::app
