#include "bench_compare_command.hpp"

#include <cmath>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "report_output.hpp"
#include "ssmkit/bench/run_comparison.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit::app {
namespace {

struct CompareArgs {
  std::string base_path, new_path, json_path;
  double min_change = 0.02;
  bool fail_on_regression = false;
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string percent_or_dash(const std::optional<double>& f) {
  return f ? format_number("%.0f%%", 100.0 * *f) : "-";
}

void print_table(std::ostream& out, const bench::BenchRun& base, const bench::BenchRun& next,
                 const bench::RunComparison& c) {
  out << "base: " << base.path << (base.command.empty() ? "" : "  (" + base.command + ")") << '\n';
  out << "new:  " << next.path << (next.command.empty() ? "" : "  (" + next.command + ")") << "\n\n";
  out << "| row | timer | base us | new us | speedup (base / new) | base % BW | new % BW | "
         "threshold | verdict |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n";
  int faster = 0, slower = 0, same = 0, warned = 0;
  for (const auto& r : c.rows) {
    out << "| " << r.name << " | " << r.timer << " | " << format_number("%.2f", r.base_s * 1e6)
        << " | " << format_number("%.2f", r.new_s * 1e6) << " | "
        << format_number("%.3fx", r.speedup) << " | "
        << percent_or_dash(r.base_fraction) << " | " << percent_or_dash(r.new_fraction) << " | "
        << format_number("%.1f%%", 100.0 * r.threshold) << " | " << bench::verdict_name(r.verdict)
        << (r.warned ? " (WARN)" : "") << (r.check_failed ? ", CHECK FAILED" : "") << " |\n";
    warned += r.warned;
    faster += r.verdict == bench::Verdict::faster;
    slower += r.verdict == bench::Verdict::slower;
    same += r.verdict == bench::Verdict::same;
  }
  out << '\n' << faster << " faster, " << slower << " slower, " << same
      << " within the threshold (the larger of --min-change and the rows' mean half-spread, "
         "p90 - p10 over 2 medians)\n";
  if (warned > 0) {
    out << warned << " of them marked (WARN): `ssmkit bench` warned about the row in either run "
           "(few timed passes, a wide spread), so their verdict is less sure\n";
  }
  for (const auto& r : c.rows) {
    if (r.check_failed) out << "CHECK FAILED in the new run: " << r.name << '\n';
    if (r.timer_changed) out << "WARN " << r.name << ": timed differently in the two runs\n";
  }
  for (const auto& [name, why] : c.newly_skipped) {
    out << "SKIPPED in the new run, timed in the base: " << name << " (" << why << ")\n";
  }
  if (c.devices_differ) {
    out << "WARN the runs list different devices (base: " << join(base.devices)
        << "; new: " << join(next.devices) << "): times compare across machines only loosely\n";
  }
  if (c.launch_gate_differs) {
    out << "WARN only the " << (next.cuda_launch_gate ? "new" : "base")
        << " run enqueued its CUDA passes behind the launch gate; the other's CUDA times include "
           "the host's launch latency (a few microseconds per launch), which short kernels feel\n";
  }
  for (const auto& name : c.only_base) out << "only in base: " << name << '\n';
  for (const auto& name : c.only_new) out << "only in new: " << name << '\n';
  for (const auto& backend : c.copy_bandwidth_moved) {
    out << "WARN " << backend << ": the copy bandwidth moved between the runs ("
        << format_number("%.0f", base.copy_bandwidth.at(backend) / 1e9) << " -> "
        << format_number("%.0f", next.copy_bandwidth.at(backend) / 1e9)
        << " GB/s): another machine or clock state, so compare the % BW columns; for an A/B "
           "verdict, run both binaries alternately in one session\n";
  }
}

void write_json(const std::string& path, const bench::RunComparison& c) {
  using nlohmann::json;
  json j;
  j["rows"] = json::array();
  for (const auto& r : c.rows) {
    json row = {{"name", r.name}, {"timer", r.timer}, {"base_median_s", r.base_s},
                {"new_median_s", r.new_s}, {"speedup", r.speedup}, {"threshold", r.threshold},
                {"verdict", bench::verdict_name(r.verdict)}, {"warned", r.warned},
                {"check_failed", r.check_failed}, {"timer_changed", r.timer_changed}};
    if (r.base_fraction) row["base_fraction_of_copy_bandwidth"] = *r.base_fraction;
    if (r.new_fraction) row["new_fraction_of_copy_bandwidth"] = *r.new_fraction;
    j["rows"].push_back(row);
  }
  j["newly_skipped"] = json::array();
  for (const auto& [name, why] : c.newly_skipped) {
    j["newly_skipped"].push_back({{"name", name}, {"reason", why}});
  }
  j["only_base"] = c.only_base;
  j["only_new"] = c.only_new;
  j["copy_bandwidth_moved"] = c.copy_bandwidth_moved;
  j["devices_differ"] = c.devices_differ;
  j["launch_gate_differs"] = c.launch_gate_differs;
  write_output_file(path, "--json", json_text(j));
}

int run_compare(const CompareArgs& args) {
  // CLI11's range check lets NaN through, and a NaN threshold would call every row `same`.
  if (!std::isfinite(args.min_change)) {
    throw InputError("--min-change", std::to_string(args.min_change), "expected a number from 0 to 10");
  }
  const bench::BenchRun base = bench::load_bench_run(args.base_path);
  const bench::BenchRun next = bench::load_bench_run(args.new_path);
  const bench::RunComparison c = bench::compare_runs(base, next, args.min_change);
  print_table(std::cout, base, next, c);
  if (!args.json_path.empty()) write_json(args.json_path, c);
  if (c.rows.empty() && c.newly_skipped.empty()) {
    std::cerr << "ssmkit bench-compare: no row name appears in both " << args.base_path
              << " and " << args.new_path << '\n';
    return 2;
  }
  if (!args.fail_on_regression) return 0;
  bool regressed = !c.newly_skipped.empty();
  for (const auto& r : c.rows) regressed |= r.verdict == bench::Verdict::slower || r.check_failed;
  return regressed ? 1 : 0;
}

}  // namespace

void add_bench_compare_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench-compare",
      "Compare two `ssmkit bench --json` files row by row: speedup, % of copy bandwidth, and "
      "whether each change is beyond the runs' noise");
  cmd->add_option("base", args->base_path, "the baseline run's JSON")->required();
  cmd->add_option("new", args->new_path, "the changed run's JSON")->required();
  cmd->add_option("--min-change", args->min_change,
                  "smallest relative change called faster or slower (default 0.02)")
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_flag("--fail-on-regression", args->fail_on_regression,
                "exit with 1 when a row is slower, fails its check in the new run, or was timed "
                "in the base run and is skipped in the new one (for CI)");
  cmd->add_option("--json", args->json_path, "write the comparison as JSON to FILE");
  cmd->callback([args, exit_code] { *exit_code = run_compare(*args); });
}

}  // namespace ssmkit::app
