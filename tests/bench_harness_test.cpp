// The bench harness without a GPU: case generation, the byte formulas, the check's slicing
// (a slice of the reference equals the reference of the slice), and the command line.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cpu/cpu_backend.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/bench/check.hpp"
#include "ssmkit/bench/measurement.hpp"
#include "ssmkit/error.hpp"
#include "cli_util.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using bench::BenchCase;

std::vector<BenchCase> tiny_cases(DType dtype = DType::bfloat16) {
  bench::SweepOptions sweep;
  sweep.batches = {3};
  sweep.seqlens = {70};
  sweep.decode_batches = {5};
  sweep.dtypes = {dtype};
  return bench::make_cases(bench::shape_preset("tiny"), sweep);
}

TEST(BenchCases, TinyPresetCoversEveryOpWithUniqueNames) {
  std::set<std::string> ops, names;
  for (const auto& c : tiny_cases()) {
    ops.insert(c.op);
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate " << c.name;
  }
  for (const auto& op : bench::bench_op_names()) EXPECT_TRUE(ops.count(op)) << op;
  EXPECT_THROW(bench::shape_preset("mamba-99b"), InputError);
}

// Sweeps whose products meet (gated_rmsnorm's rows = B x L: 1 x 32 and 2 x 16) make one case,
// so every row name is unique and bench-compare reads the file.
TEST(BenchCases, SweepsThatMeetMakeOneCase) {
  bench::SweepOptions sweep;
  sweep.batches = {1, 2};
  sweep.seqlens = {16, 32};
  sweep.decode_batches = {4};
  sweep.dtypes = {DType::bfloat16};
  sweep.ops = {"gated_rmsnorm", "paged_kv_write"};
  std::set<std::string> names;
  std::map<std::string, int> per_op;
  for (const auto& c : bench::make_cases(bench::shape_preset("tiny"), sweep)) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate " << c.name;
    ++per_op[c.op];
  }
  EXPECT_EQ(per_op["gated_rmsnorm"], 3);   // rows 16, 32, 64
  EXPECT_EQ(per_op["paged_kv_write"], 4);  // prefill T = 16, 32, 64; one decode step
}

TEST(BenchCases, InputsAreRepresentableNonZeroAndDeterministic) {
  for (const auto& c : tiny_cases()) {
    if (c.op != "selective_scan") continue;
    const auto a = std::get<SelectiveScanParams>(c.make_params());
    const auto b = std::get<SelectiveScanParams>(c.make_params());
    EXPECT_TRUE(test::same_bytes(a.u, b.u));
    for (double v : a.u.span<double>()) {
      EXPECT_NE(v, 0.0);
      EXPECT_EQ(v, round_to_dtype(v, DType::bfloat16));
    }
    for (double v : a.A.span<double>()) EXPECT_EQ(v, round_to_dtype(v, DType::float32));
  }
}

TEST(BenchTraffic, StateUpdateCountsTheStateTwiceAndPerHeadParametersOnce) {
  SelectiveStateUpdateParams p;
  p.batch = 64, p.nheads = 80, p.headdim = 64, p.dstate = 128, p.ngroups = 1;
  p.input_dtype = DType::bfloat16, p.state_dtype = DType::float32;
  p.x = Tensor(DType::float64, {64, 80, 64});
  p.z = p.x;
  p.dt = Tensor(DType::float64, {64, 80});
  p.A = Tensor(DType::float64, {80});
  p.D = Tensor(DType::float64, {80});
  p.dt_bias = Tensor(DType::float64, {80});
  p.B = Tensor(DType::float64, {64, 1, 128});
  p.C = p.B;
  const double state = 64.0 * 80 * 64 * 128 * 4 * 2;
  const double acts = 2.0 * (64 * 80 * 64 * 3 + 64 * 80 + 2 * 64 * 128);  // x, z, out; dt; B, C
  const double params = 4.0 * 80 * 3;
  EXPECT_DOUBLE_EQ(bench::traffic(p).bytes, state + acts + params);
}

// The check cuts inputs and outputs to one batch row and a few units; the reference on the
// cut inputs must equal the cut of the full reference, for every op.
TEST(BenchCheck, SliceOfReferenceEqualsReferenceOfSlice) {
  CpuBackend cpu;
  for (DType dtype : {DType::float32, DType::bfloat16}) {
    for (const auto& c : tiny_cases(dtype)) {
      const OpParams params = c.make_params();
      const NamedTensors full = run_op(cpu, params);
      const double flops = bench::traffic(params).flops;
      const bench::Slice s = bench::choose_slice(params, flops / 20);
      if (c.op == "paged_kv_write" || c.op == "paged_kv_gather") {  // copies: always whole
        EXPECT_TRUE(s.whole) << c.name;
        continue;
      }
      ASSERT_FALSE(s.whole) << c.name;
      ASSERT_GE(s.count, 1);
      const NamedTensors cut = bench::slice_outputs(params, full, s);
      const NamedTensors ref = run_op(cpu, bench::slice_params(params, s));
      ASSERT_EQ(cut.size(), ref.size()) << c.name;
      for (const auto& [name, t] : ref) {
        ASSERT_EQ(cut.at(name).shape(), t.shape()) << c.name << " " << name;
        EXPECT_LT(test::max_abs_diff(cut.at(name), t), 1e-12) << c.name << " " << name;
      }
    }
  }
}

TEST(BenchCheck, PassesTheReferenceAndFailsAPerturbedOutput) {
  CpuBackend cpu;
  for (const auto& c : tiny_cases(DType::float32)) {
    const OpParams params = c.make_params();
    NamedTensors outputs = run_op(cpu, params);
    const auto ok = bench::check_outputs(params, outputs, cpu, 1e5);
    EXPECT_TRUE(ok.passed) << c.name << ": " << ok.message;
    // Ten times the tolerance on every element (bfloat16 states get bfloat16 tolerances),
    // and at least 1e-3 (the exact copies have none).
    const Tolerance tol = ok.tolerance;
    const double rel = std::max(10 * tol.rtol, 1e-3), abs = std::max(10 * tol.atol, 1e-3);
    for (auto& [name, t] : outputs) {
      for (double& v : t.span<double>()) v = v * (1 + rel) + abs;
    }
    const auto bad = bench::check_outputs(params, outputs, cpu, 1e5);
    EXPECT_FALSE(bad.passed) << c.name;
  }
}

TEST(BenchCheck, PerHeadStateUpdateLayoutMatchesTheExpandedOne) {
  for (const auto& c : tiny_cases(DType::float32)) {
    if (c.op != "selective_state_update" || c.dims.at("per_head") == 0) continue;
    const auto p = std::get<SelectiveStateUpdateParams>(c.make_params());
    SelectiveStateUpdateParams e = p;
    const auto H = p.nheads, P = p.headdim, N = p.dstate;
    e.A = Tensor(DType::float64, {H, P, N});
    e.D = Tensor(DType::float64, {H, P});
    e.dt_bias = Tensor(DType::float64, {H, P});
    e.dt = Tensor(DType::float64, {p.batch, H, P});
    for (std::int64_t h = 0; h < H; ++h) {
      for (std::int64_t q = 0; q < P; ++q) {
        e.D.span<double>()[h * P + q] = p.D.span<double>()[h];
        e.dt_bias.span<double>()[h * P + q] = p.dt_bias.span<double>()[h];
        for (std::int64_t n = 0; n < N; ++n) e.A.span<double>()[(h * P + q) * N + n] = p.A.span<double>()[h];
        for (std::int64_t b = 0; b < p.batch; ++b) {
          e.dt.span<double>()[(b * H + h) * P + q] = p.dt.span<double>()[b * H + h];
        }
      }
    }
    CpuBackend cpu;
    const auto r1 = cpu.call(p), r2 = cpu.call(e);
    EXPECT_TRUE(test::same_bytes(r1.out, r2.out));
    EXPECT_TRUE(test::same_bytes(r1.state, r2.state));
  }
}

TEST(BenchMeasurement, QuantilesInterpolateBetweenSortedSamples) {
  EXPECT_DOUBLE_EQ(bench::quantile({4.0, 1.0, 3.0, 2.0, 5.0}, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(bench::quantile({4.0, 1.0, 3.0, 2.0, 5.0}, 0.1), 1.4);
  EXPECT_DOUBLE_EQ(bench::quantile({2.0, 1.0}, 0.9), 1.9);
  EXPECT_TRUE(std::isnan(bench::quantile({}, 0.5)));
}

TEST(BenchMeasurement, SteadyRowsHaveNoWarnings) {
  const std::vector<double> steady(20, 1e-3);
  EXPECT_TRUE(bench::measurement_warnings(steady, 1e9, 2e12).empty());  // 1 TB/s of 2
  EXPECT_TRUE(bench::measurement_warnings(steady, 1e9, std::nullopt).empty());
}

TEST(BenchMeasurement, EachReasonIsNamed) {
  auto only = [](const std::vector<std::string>& w, const std::string& words) {
    return w.size() == 1 && w[0].find(words) != std::string::npos;
  };
  const auto few = bench::measurement_warnings({1e-3, 1e-3, 1e-3}, 0.0, std::nullopt);
  EXPECT_TRUE(only(few, "3 timed passes")) << (few.empty() ? "" : few[0]);

  std::vector<double> noisy(20, 1e-3);
  for (int i = 0; i < 5; ++i) noisy[i] = 1.3e-3;  // the top quarter 30% slower
  const auto n = bench::measurement_warnings(noisy, 0.0, std::nullopt);
  EXPECT_TRUE(only(n, "spread is 30% of the median")) << (n.empty() ? "" : n[0]);

  // 2.2 GB in 1 ms is 2.2 TB/s against a 2 TB/s copy: 110%.
  const auto fast = bench::measurement_warnings(std::vector<double>(20, 1e-3), 2.2e9, 2e12);
  EXPECT_TRUE(only(fast, "110% of the copy bandwidth")) << (fast.empty() ? "" : fast[0]);
  EXPECT_TRUE(bench::measurement_warnings(std::vector<double>(20, 1e-3), 2.0e9, 2e12).empty());
}

// ---- the command line ------------------------------------------------------------------

struct BenchJsonRun {
  test::CliRun cli;
  nlohmann::json json;  // the --json file; null when the run failed before writing it
};

// `ssmkit bench ARGS --json FILE`, and FILE parsed.
BenchJsonRun run_bench_json(const std::string& args) {
  test::TempDir dir;
  const auto json_path = dir / "bench.json";
  BenchJsonRun r{test::run_ssmkit("bench " + args + " --json " + test::quoted(json_path)), {}};
  if (std::ifstream f(json_path); f) r.json = nlohmann::json::parse(f);
  return r;
}

TEST(BenchCommand, CpuTinyRunWritesTableAndJson) {
  const auto [cli, j] = run_bench_json(
      "--backend all --preset tiny --op selective_state_update,causal_conv1d --batch 2 "
      "--seqlen 64 --decode-batch 3 --benchmark_min_time=0.001");
  const std::string& out = cli.output;
  ASSERT_EQ(cli.exit_code, 0) << out;
  EXPECT_NE(out.find("| cpu | selective_state_update | tiny |"), std::string::npos) << out;
  EXPECT_NE(out.find("| cpu | memory_copy |"), std::string::npos) << out;
  int cases = 0;
  for (const auto& row : j.at("rows")) {
    if (row.at("backend") != "cpu" || row.at("op") == "memory_copy") continue;
    ++cases;
    EXPECT_GT(row.at("median_s").get<double>(), 0.0);
    EXPECT_GT(row.at("bytes").get<double>(), 0.0);
    EXPECT_EQ(row.at("check").at("note"), "CPU reference");
    EXPECT_TRUE(row.at("warnings").is_array());
  }
  EXPECT_EQ(cases, 1 /*conv*/ * 4 /*mamba1, mamba2, gated deltanet, kda widths*/ +
                       2 * 2 /*ssu: 2 layouts x 2 states*/);
  // Without a GPU build or device, the report says why cuda did not run.
  if (out.find("| cuda |") == std::string::npos) EXPECT_NE(out.find("SKIP cuda"), std::string::npos) << out;
}

// --copy-sizes adds copy rows of those sizes after the bandwidth reference (256 MiB on the
// CPU), which stays the first and so the base of every "% BW".
TEST(BenchCommand, CopySizesAddCopyRowsAfterTheReference) {
  const auto [cli, j] = run_bench_json(
      "--backend cpu --preset tiny --op causal_conv1d --batch 1 --seqlen 16 "
      "--copy-sizes 2,256,1 --benchmark_min_time=0.001");
  const std::string& out = cli.output;
  ASSERT_EQ(cli.exit_code, 0) << out;
  std::vector<std::string> copies;
  for (const auto& row : j.at("rows")) {
    if (row.at("op") == "memory_copy") copies.push_back(row.at("shape").get<std::string>());
  }
  EXPECT_EQ(copies, (std::vector<std::string>{"256 MiB", "2 MiB", "1 MiB"})) << out;
  EXPECT_NE(out.find("| cpu | memory_copy | - | 2 MiB |"), std::string::npos) << out;
  // The smaller copies are held to the reference: one that outruns it (on a CPU they stay in
  // its caches) is flagged exactly when its rate is over 1.05 times the reference's.
  double reference_rate = 0.0;
  for (const auto& row : j.at("rows")) {
    if (row.at("op") != "memory_copy") continue;
    const double rate = row.at("bytes").get<double>() / row.at("median_s").get<double>();
    if (reference_rate == 0.0) {
      reference_rate = rate;
      continue;
    }
    bool flagged = false;
    for (const auto& w : row.at("warnings")) {
      flagged = flagged || w.get<std::string>().find("of the copy bandwidth") != std::string::npos;
    }
    EXPECT_EQ(flagged, rate > 1.05 * reference_rate) << row.dump();
  }
}

// A run that filters the reference copy out has no "% BW" at all, rather than one of a
// smaller copy.
TEST(BenchCommand, WithoutTheReferenceCopyNoRowIsItsBase) {
  const auto [cli, j] = run_bench_json(
      "--backend cpu --preset tiny --op causal_conv1d --batch 1 --seqlen 16 --copy-sizes 1 "
      "--benchmark_filter=memory_copy/1MiB --benchmark_min_time=0.001");
  const std::string& out = cli.output;
  ASSERT_EQ(cli.exit_code, 0) << out;
  ASSERT_EQ(j.at("rows").size(), 1u) << out;
  EXPECT_EQ(j.at("rows")[0].at("shape"), "1 MiB");
  EXPECT_FALSE(j.at("rows")[0].contains("fraction_of_copy_bandwidth")) << out;
  EXPECT_FALSE(j.contains("copy_bandwidth_bytes_per_s")) << out;
}

TEST(BenchCommand, BadArgumentsExitTwo) {
  EXPECT_EQ(test::run_ssmkit("bench --backend cpu --preset mamba-99b").exit_code, 2);
  EXPECT_EQ(test::run_ssmkit("bench --backend cpu --op not_an_op").exit_code, 2);
  EXPECT_EQ(test::run_ssmkit("bench --backend cpu --batch 0").exit_code, 2);
  EXPECT_EQ(test::run_ssmkit("bench --backend cpu --frobnicate").exit_code, 2);
  EXPECT_EQ(test::run_ssmkit("bench --backend cpu --state-dtype float16").exit_code, 2);
  EXPECT_EQ(test::run_ssmkit("bench --backend cpu --copy-sizes 0").exit_code, 2);
}

// Each is exit 2 with the option named, before anything is timed: sizes past the bounds
// that keep element counts in 64 bits, values Google Benchmark would answer with its usage
// text and status 0, an op no preset given runs, a filter that leaves nothing, a --json
// that could not be written at the end.
TEST(BenchCommand, InputThatWouldTimeNothingOrCrashExitsTwoNamingIt) {
  test::TempDir dir;
  const std::string base = "bench --backend cpu --preset tiny --op causal_conv1d --batch 1 --seqlen 16 "
                           "--benchmark_min_time=0.001 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--batch 4611686018427387904", "--batch: 4611686018427387904: expected 1 to 1048576"},
      {"--seqlen 16777217", "--seqlen: 16777217: expected 1 to 16777216"},
      {"--decode-batch 1048577", "--decode-batch: 1048577: expected 1 to 1048576"},
      {"--check-flops nan", "--check-flops: nan: expected a positive number"},
      {"--benchmark_format=xml", "--benchmark_format: xml: expected console, json or csv"},
      {"--benchmark_out_format=bad", "--benchmark_out_format: bad: expected console, json or csv"},
      {"--benchmark_repetitions=0", "--benchmark_repetitions: 0: expected an integer >= 1"},
      {"--benchmark_filter=nomatch", "no row ran: --benchmark_filter matched none of them"},
      {"--json " + test::quoted(dir.path()), "--json: is a directory"},
      {"--json " + test::quoted(dir / "no" / "such" / "x.json"), "--json: cannot open the file for writing"},
  };
  for (const auto& [extra, message] : cases) {
    const auto r = test::run_ssmkit(base + extra);
    EXPECT_EQ(r.exit_code, 2) << extra << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << extra << "\n" << r.output;
    EXPECT_EQ(r.output.find("| cpu | causal_conv1d"), std::string::npos) << extra << "\n" << r.output;
  }
  const auto no_case = test::run_ssmkit("bench --backend cpu --preset minimax-text-01 --op selective_scan");
  EXPECT_EQ(no_case.exit_code, 2) << no_case.output;
  EXPECT_NE(no_case.output.find("--op: selective_scan: no preset given has a layer this op runs on"),
            std::string::npos)
      << no_case.output;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));  // the --json checks leave no file
}

// Named alone, a backend that is not there is an error; `all` skips it visibly (above).
TEST(BenchCommand, CudaByNameWithoutADeviceExitsTwo) {
  const auto r = test::run_ssmkit("bench --backend cuda --preset tiny --op causal_conv1d --batch 1 "
                                  "--seqlen 16 --benchmark_min_time=0.001");
  if (r.exit_code == 0) GTEST_SKIP() << "a CUDA device is present; nothing to check here";
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--backend: cuda: backend 'cuda' is not available"), std::string::npos)
      << r.output;
}

// In a fresh process a kernel's first launch loads its module, which waits for the device to
// go idle; a pass enqueued behind the launch gate before that would wait out the gate's
// timeout and the row would time the host's launches too. Unchecked rows launch nothing
// before their first pass.
TEST(BenchCommand, CudaRowsTimeTheDeviceAloneFromTheFirstPass) {
#ifndef NDEBUG
  GTEST_SKIP() << "a debug build: the launch gate is off there";
#endif
  const auto r = test::run_ssmkit("bench --backend cuda --preset mamba2-2.7b --op "
                                  "selective_state_update,mamba_chunk_scan_combined --decode-batch 1 "
                                  "--batch 1 --seqlen 256 --no-check --benchmark_min_time=0.001");
  if (r.exit_code == 2 && r.output.find("is not available") != std::string::npos) {
    GTEST_SKIP() << "GPU test skipped: no CUDA device";
  }
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("| cuda | mamba_chunk_scan_combined |"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("host launch time included"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ssmkit
