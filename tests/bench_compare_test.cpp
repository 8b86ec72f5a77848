// ssmkit bench-compare: reading `bench --json` files, the verdict per row, and the command's
// exit status and messages.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"
#include "ssmkit/bench/run_comparison.hpp"
#include "ssmkit/error.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using bench::BenchRun;
using bench::RunRow;
using bench::Verdict;
using nlohmann::json;

RunRow row(const std::string& name, double median_us, double spread = 0.0) {
  const double m = median_us * 1e-6;
  return {name, "cuda events", m, m * (1.0 - spread / 2), m * (1.0 + spread / 2), 0.5};
}

const bench::RowChange& change(const bench::RunComparison& c, const std::string& name) {
  for (const auto& r : c.rows) {
    if (r.name == name) return r;
  }
  throw std::runtime_error("no row " + name);
}

TEST(BenchCompare, CallsEachRowFasterSlowerOrWithinNoise) {
  BenchRun base, next;
  base.rows = {row("a", 100), row("b", 100), row("c", 100), row("noisy", 100, 0.2),
               row("gone", 10)};
  next.rows = {row("a", 50), row("b", 104), row("c", 101), row("noisy", 92, 0.2),
               row("added", 10)};
  base.copy_bandwidth = {{"cuda", 4.0e12}};
  next.copy_bandwidth = {{"cuda", 4.2e12}};
  const auto c = bench::compare_runs(base, next, 0.02);
  EXPECT_EQ(change(c, "a").verdict, Verdict::faster);
  EXPECT_DOUBLE_EQ(change(c, "a").speedup, 2.0);
  EXPECT_EQ(change(c, "b").verdict, Verdict::slower);
  EXPECT_EQ(change(c, "c").verdict, Verdict::same);
  // 8% faster, but each run's own p10..p90 spread is 20% of its median: not a verdict.
  EXPECT_EQ(change(c, "noisy").verdict, Verdict::same);
  EXPECT_DOUBLE_EQ(change(c, "noisy").threshold, 0.1);
  EXPECT_EQ(c.only_base, std::vector<std::string>{"gone"});
  EXPECT_EQ(c.only_new, std::vector<std::string>{"added"});
  EXPECT_EQ(c.copy_bandwidth_moved, std::vector<std::string>{"cuda"});
  EXPECT_FALSE(change(c, "a").warned);
  base.rows[0].warned = true;
  EXPECT_TRUE(change(bench::compare_runs(base, next, 0.02), "a").warned);
  // A looser --min-change turns the 4% slowdown into noise.
  EXPECT_EQ(change(bench::compare_runs(base, next, 0.05), "b").verdict, Verdict::same);
}

json bench_file(const std::vector<json>& rows) {
  return {{"command", "ssmkit bench"}, {"copy_bandwidth_bytes_per_s", {{"cuda", 4.2e12}}},
          {"rows", rows}};
}

json timed_row(const std::string& name, double median_s) {
  return {{"name", name}, {"timer", "cuda events"}, {"median_s", median_s},
          {"p10_s", median_s * 0.99}, {"p90_s", median_s * 1.01},
          {"fraction_of_copy_bandwidth", 0.8}};
}

void write(const std::filesystem::path& path, const json& j) { std::ofstream(path) << j.dump(); }

TEST(BenchCompare, ReadsTimedRowsAndSkipsUntimedOnes) {
  test::TempDir dir;
  json warned = timed_row("w", 1e-4);
  warned["warnings"] = {"3 timed passes: a median of so few is not stable"};
  write(dir / "run.json", bench_file({timed_row("x", 1e-4), warned,
                                      {{"name", "y"}, {"skip", "no kernel for this shape"}}}));
  const BenchRun run = bench::load_bench_run((dir / "run.json").string());
  ASSERT_EQ(run.rows.size(), 2u);
  EXPECT_FALSE(run.rows[0].warned);
  EXPECT_TRUE(run.rows[1].warned);
  EXPECT_EQ(run.rows[0].name, "x");
  EXPECT_DOUBLE_EQ(run.rows[0].median_s, 1e-4);
  EXPECT_DOUBLE_EQ(*run.rows[0].fraction_of_copy, 0.8);
  EXPECT_DOUBLE_EQ(run.copy_bandwidth.at("cuda"), 4.2e12);
}

void expect_input_error(const std::filesystem::path& path, const std::string& needle) {
  try {
    bench::load_bench_run(path.string());
    ADD_FAILURE() << "no error for " << path;
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
  }
}

TEST(BenchCompare, BadFilesAreClearErrors) {
  test::TempDir dir;
  expect_input_error(dir / "missing.json", "cannot be read");
  std::ofstream(dir / "truncated.json") << "{\"rows\": [";
  expect_input_error(dir / "truncated.json", "not JSON");
  write(dir / "no_rows.json", json{{"command", "x"}});
  expect_input_error(dir / "no_rows.json", "rows: expected a list of rows");
  json bad = timed_row("x", 1e-4);
  bad["median_s"] = "fast";
  write(dir / "bad_median.json", bench_file({timed_row("w", 1e-4), bad}));
  expect_input_error(dir / "bad_median.json", "rows[1]: median_s: expected a positive number");
  write(dir / "twice.json", bench_file({timed_row("x", 1e-4), timed_row("x", 2e-4)}));
  expect_input_error(dir / "twice.json", "'x' appears twice");
  write(dir / "timed_and_skipped.json", bench_file({timed_row("x", 1e-4), {{"name", "x"}, {"skip", "?"}}}));
  expect_input_error(dir / "timed_and_skipped.json", "'x' appears twice");
  expect_input_error(dir.path(), "is a directory");
  std::ofstream(dir / "huge.json") << R"({"rows": [{"name": "x", "median_s": 1e400}]})";
  expect_input_error(dir / "huge.json", "not JSON");
  // Values no bench run writes: each would give a wrong verdict or an impossible cell.
  json subnormal = timed_row("x", 1e-320);
  write(dir / "subnormal.json", bench_file({subnormal}));
  expect_input_error(dir / "subnormal.json", "rows[0]: median_s: expected a positive number");
  json inverted = timed_row("x", 1e-4);
  inverted["p10_s"] = 2e-4;
  write(dir / "inverted.json", bench_file({inverted}));
  expect_input_error(dir / "inverted.json", "rows[0]: p10_s: expected p10_s <= median_s <= p90_s");
  json negative = timed_row("x", 1e-4);
  negative["fraction_of_copy_bandwidth"] = -3.0;
  write(dir / "negative.json", bench_file({negative}));
  expect_input_error(dir / "negative.json", "fraction_of_copy_bandwidth: expected a number >= 0");
  json zero_copy = bench_file({timed_row("x", 1e-4)});
  zero_copy["copy_bandwidth_bytes_per_s"]["cuda"] = 0.0;
  write(dir / "zero_copy.json", zero_copy);
  expect_input_error(dir / "zero_copy.json", "copy_bandwidth_bytes_per_s.cuda: expected a positive number");
}

// Every row skipped in the new run is a regression to report, not two unrelated files.
TEST(BenchCompare, EveryRowSkippedInTheNewRunIsARegression) {
  test::TempDir dir;
  write(dir / "base.json", bench_file({timed_row("a", 1e-4)}));
  write(dir / "new.json", bench_file({{{"name", "a"}, {"skip", "cuda: out of memory"}}}));
  const std::string files = test::quoted(dir / "base.json") + " " + test::quoted(dir / "new.json");
  const auto plain = test::run_ssmkit("bench-compare " + files);
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_NE(plain.output.find("SKIPPED in the new run, timed in the base: a"), std::string::npos)
      << plain.output;
  EXPECT_EQ(test::run_ssmkit("bench-compare " + files + " --fail-on-regression").exit_code, 1);
}

// Runs that list different devices compare only loosely: said, not silently.
TEST(BenchCompare, DifferentDevicesAreWarned) {
  test::TempDir dir;
  json h100 = bench_file({timed_row("a", 1e-4)}), h200 = h100;
  h100["backends"] = {"cuda (NVIDIA H100 80GB HBM3)"};
  h200["backends"] = {"cuda (NVIDIA H200)"};
  write(dir / "h100.json", h100);
  write(dir / "h200.json", h200);
  const auto across = test::run_ssmkit("bench-compare " + test::quoted(dir / "h100.json") + " " +
                                       test::quoted(dir / "h200.json"));
  EXPECT_EQ(across.exit_code, 0) << across.output;
  EXPECT_NE(across.output.find("WARN the runs list different devices (base: cuda (NVIDIA H100 80GB "
                               "HBM3); new: cuda (NVIDIA H200))"),
            std::string::npos)
      << across.output;
  const auto same = test::run_ssmkit("bench-compare " + test::quoted(dir / "h200.json") + " " +
                                     test::quoted(dir / "h200.json"));
  EXPECT_EQ(same.output.find("different devices"), std::string::npos) << same.output;
}

// A file written before the launch gate timed the host's launches too: comparing it with a
// gated run is said, not silent.
TEST(BenchCompare, OneRunWithoutTheLaunchGateIsWarned) {
  test::TempDir dir;
  json before = bench_file({timed_row("a", 1e-4)}), after = before;
  after["cuda_launch_gate"] = true;
  write(dir / "before.json", before);
  write(dir / "after.json", after);
  auto run = [&](const char* base, const char* next) {
    return test::run_ssmkit("bench-compare " + test::quoted(dir / base) + " " + test::quoted(dir / next));
  };
  const auto mixed = run("before.json", "after.json");
  EXPECT_EQ(mixed.exit_code, 0) << mixed.output;
  EXPECT_NE(mixed.output.find("WARN only the new run enqueued its CUDA passes behind the launch gate"),
            std::string::npos)
      << mixed.output;
  EXPECT_EQ(run("after.json", "after.json").output.find("launch gate"), std::string::npos);
  after["cuda_launch_gate"] = "yes";
  write(dir / "bad.json", after);
  expect_input_error(dir / "bad.json", "cuda_launch_gate: expected true or false");
}

// A row whose check fails in the new run, or that the new run skips, is a regression for
// --fail-on-regression even when no time got worse.
TEST(BenchCompare, FailedChecksAndNewSkipsAreRegressions) {
  test::TempDir dir;
  write(dir / "base.json", bench_file({timed_row("a", 1e-4), timed_row("b", 1e-4)}));
  json failed = timed_row("a", 1e-4);
  failed["check"] = {{"passed", false}, {"message", "out: 12 of 4096 out of tolerance"}};
  write(dir / "new.json",
        bench_file({failed, {{"name", "b"}, {"skip", "cuda: no kernel for dstate 300"}}}));
  const auto c = bench::compare_runs(bench::load_bench_run((dir / "base.json").string()),
                                     bench::load_bench_run((dir / "new.json").string()), 0.02);
  EXPECT_TRUE(change(c, "a").check_failed);
  EXPECT_EQ(change(c, "a").verdict, Verdict::same);
  ASSERT_EQ(c.newly_skipped.size(), 1u);
  EXPECT_EQ(c.newly_skipped[0].first, "b");
  EXPECT_TRUE(c.only_base.empty());

  const std::string files = test::quoted(dir / "base.json") + " " + test::quoted(dir / "new.json");
  const auto plain = test::run_ssmkit("bench-compare " + files);
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  const auto strict = test::run_ssmkit("bench-compare " + files + " --fail-on-regression");
  EXPECT_EQ(strict.exit_code, 1) << strict.output;
  EXPECT_NE(strict.output.find("CHECK FAILED in the new run: a"), std::string::npos) << strict.output;
  EXPECT_NE(strict.output.find("SKIPPED in the new run, timed in the base: b (cuda: no kernel"),
            std::string::npos)
      << strict.output;
}

// The command end to end: a JSON written by `ssmkit bench` reads back, compared with itself
// every row is the same; a slowdown fails with --fail-on-regression; a bad file exits with 2.
TEST(BenchCompare, CommandComparesBenchOutput) {
  test::TempDir dir;
  const auto bench = test::run_ssmkit("bench --backend cpu --preset tiny --op gated_rmsnorm --json " +
                                      test::quoted(dir / "base.json") +
                                      " --benchmark_min_time=0.01");
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  const auto self = test::run_ssmkit("bench-compare " + test::quoted(dir / "base.json") + " " +
                                     test::quoted(dir / "base.json") + " --fail-on-regression");
  EXPECT_EQ(self.exit_code, 0) << self.output;
  EXPECT_NE(self.output.find("0 faster, 0 slower"), std::string::npos) << self.output;
  EXPECT_NE(self.output.find("| gated_rmsnorm/tiny/"), std::string::npos) << self.output;

  json slower;
  std::ifstream(dir / "base.json") >> slower;
  for (auto& r : slower["rows"]) {
    for (const char* k : {"median_s", "p10_s", "p90_s"}) r[k] = r[k].get<double>() * 1.5;
  }
  write(dir / "slower.json", slower);
  const auto worse = test::run_ssmkit("bench-compare " + test::quoted(dir / "base.json") + " " +
                                      test::quoted(dir / "slower.json") + " --fail-on-regression");
  EXPECT_EQ(worse.exit_code, 1) << worse.output;
  EXPECT_NE(worse.output.find("| slower"), std::string::npos) << worse.output;

  const auto missing = test::run_ssmkit("bench-compare " + test::quoted(dir / "base.json") + " " +
                                        test::quoted(dir / "nope.json"));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("nope.json: cannot be read"), std::string::npos) << missing.output;

  const std::string same = test::quoted(dir / "base.json") + " " + test::quoted(dir / "base.json");
  const auto unwritable = test::run_ssmkit("bench-compare " + same + " --json /no/such/dir/c.json");
  EXPECT_EQ(unwritable.exit_code, 2) << unwritable.output;
  EXPECT_NE(unwritable.output.find("/no/such/dir/c.json: --json: cannot open the file for writing"),
            std::string::npos)
      << unwritable.output;
  const auto negative = test::run_ssmkit("bench-compare " + same + " --min-change -0.1");
  EXPECT_EQ(negative.exit_code, 2) << negative.output;
  EXPECT_NE(negative.output.find("--min-change"), std::string::npos) << negative.output;
  // NaN passes a range check, and a NaN threshold would call every row `same`.
  const auto nan = test::run_ssmkit("bench-compare " + same + " --min-change nan");
  EXPECT_EQ(nan.exit_code, 2) << nan.output;
  EXPECT_NE(nan.output.find("--min-change: nan: expected a number from 0 to 10"), std::string::npos)
      << nan.output;
}

// scripts/ab_bench.sh: both binaries in turn for each round, then one comparison per round;
// what it is given wrong is exit 2 before anything runs.
TEST(BenchCompare, AbScriptComparesEachRound) {
  test::TempDir dir;
  const std::string script = "bash " + test::quoted(test::source_dir() / "scripts" / "ab_bench.sh");
  const std::string bin = test::quoted(test::ssmkit_binary());
  const auto ok = test::run_command("OUT=" + test::quoted(dir.path()) + " ROUNDS=2 " + script +
                                    " " + bin + " " + bin +
                                    " -- --backend cpu --preset tiny --op gated_rmsnorm "
                                    "--benchmark_min_time=0.01");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("== round 2"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("| gated_rmsnorm/tiny/"), std::string::npos) << ok.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "old_2.json"));

  const auto missing = test::run_command(script + " /no/such/ssmkit " + bin);
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("/no/such/ssmkit is not an executable file"), std::string::npos)
      << missing.output;
  const auto no_rounds = test::run_command("ROUNDS=0 " + script + " " + bin + " " + bin);
  EXPECT_EQ(no_rounds.exit_code, 2) << no_rounds.output;
  EXPECT_NE(no_rounds.output.find("ROUNDS=0 (expected a positive integer)"), std::string::npos)
      << no_rounds.output;
  const auto failing = test::run_command("OUT=" + test::quoted(dir.path()) + " " + script + " " +
                                         bin + " " + bin + " -- --preset no-such-model");
  EXPECT_EQ(failing.exit_code, 1) << failing.output;
  EXPECT_NE(failing.output.find("ssmkit bench failed"), std::string::npos) << failing.output;
  // The first round's files are still in OUT from the run above: a round that writes none
  // (Google Benchmark printing its usage for a flag it rejects) must not compare them.
  const auto stale = test::run_command("OUT=" + test::quoted(dir.path()) + " ROUNDS=1 " + script +
                                       " " + bin + " " + bin +
                                       " -- --backend cpu --preset tiny --op gated_rmsnorm "
                                       "--benchmark_format=jsn");
  EXPECT_EQ(stale.exit_code, 1) << stale.output;
  EXPECT_NE(stale.output.find("ssmkit bench failed or wrote no JSON"), std::string::npos)
      << stale.output;
  const auto own_json = test::run_command(script + " " + bin + " " + bin + " -- --json x.json");
  EXPECT_EQ(own_json.exit_code, 2) << own_json.output;
  EXPECT_NE(own_json.output.find("--json: the script writes the JSON files itself"), std::string::npos)
      << own_json.output;
}

}  // namespace
}  // namespace ssmkit
