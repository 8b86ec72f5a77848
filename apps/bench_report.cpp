#include "bench_report.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <ostream>

#include "ssmkit/bench/measurement.hpp"
#include "report_output.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit::app {
namespace {

std::string check_cell(const BenchRow& r) {
  if (!r.check) return r.check_note.empty() ? "-" : r.check_note;
  if (!r.check->passed) return "FAIL: " + r.check->message;
  double worst = 0.0;
  for (const auto& o : r.check->outputs) worst = std::max(worst, o.comparison.rel_l2_error);
  return "ok (rel " + format_number("%.1e", worst) + "; " + r.check->slice + ")";
}

// Every row but the bandwidth reference itself is held to it: an op, or a smaller copy
// (--copy-sizes), that moves its bytes faster than the reference copy is served by a cache.
std::vector<std::string> row_warnings(const BenchReport& report, const BenchRow& r) {
  if (!r.skip.empty()) return {};
  const bool reference = &r == report.reference_copy(r.backend);
  return bench::measurement_warnings(r.samples, r.traffic.bytes,
                                     reference ? std::nullopt : report.copy_bandwidth(r.backend));
}

}  // namespace

std::string BenchRow::name() const {
  return bench_case.name + "/" + backend + (graph ? "/graph" : "");
}

double BenchRow::quantile(double q) const { return bench::quantile(samples, q); }
double BenchRow::median() const { return quantile(0.5); }

const BenchRow* BenchReport::reference_copy(const std::string& backend) const {
  for (const auto& r : rows) {
    if (r.backend == backend && r.bandwidth_reference) return &r;
  }
  return nullptr;
}

std::optional<double> BenchReport::copy_bandwidth(const std::string& backend) const {
  const BenchRow* r = reference_copy(backend);
  if (r == nullptr || r->samples.empty()) return std::nullopt;
  return r->traffic.bytes / r->median();
}

int BenchReport::failed_checks() const {
  int n = 0;
  for (const auto& r : rows) n += (r.check && !r.check->passed) ? 1 : 0;
  return n;
}

void print_markdown(std::ostream& out, const BenchReport& report) {
  out << "\n## ssmkit bench\n\n";
  for (const auto& b : report.backends) out << "- backend: " << b << '\n';
  for (const auto& b : report.backends) {
    const std::string name = b.substr(0, b.find(' '));
    if (auto bw = report.copy_bandwidth(name)) {
      out << "- " << name << " copy bandwidth (read + write): " << format_number("%.0f", *bw / 1e9) << " GB/s\n";
    }
  }
  out << "- time: median per call over the timed passes (spread: 10th..90th percentile); "
         "GB/s: bytes floor / median; % BW: of the copy bandwidth above\n";
  if (std::any_of(report.backends.begin(), report.backends.end(),
                  [](const std::string& b) { return b.rfind("cuda", 0) == 0; })) {
    out << "- cuda timers: each pass is enqueued behind a launch gate, so they time the device, "
           "not the host's launches (the timer column says where a pass could not be held)\n";
  }
  out << '\n';
  out << "| backend | op | preset | shape | dtype | timer | median us | p10..p90 us | MB | GB/s | "
         "GFLOP/s | % BW | check |\n";
  out << "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : report.rows) {
    const auto& c = r.bench_case;
    std::string dtype = std::string(dtype_name(c.dtype));
    if (c.state_dtype) dtype += ", state " + std::string(dtype_name(*c.state_dtype));
    if (c.op == "memory_copy") dtype = "-";
    out << "| " << r.backend << " | " << c.op << " | " << c.preset << " | " << c.shape << " | "
        << dtype << " | ";
    if (!r.skip.empty()) {
      out << "SKIP | | | | | | | " << r.skip << " |\n";
      continue;
    }
    const double med = r.median();
    const auto bw = report.copy_bandwidth(r.backend);
    const double gbs = r.traffic.bytes / med / 1e9;
    out << r.timer << (r.copies > 1 ? " x" + std::to_string(r.copies) : "") << " | "
        << format_number("%.2f", med * 1e6) << " | " << format_number("%.2f", r.quantile(0.1) * 1e6) << ".."
        << format_number("%.2f", r.quantile(0.9) * 1e6) << " | " << format_number("%.1f", r.traffic.bytes / 1e6)
        << " | " << format_number("%.0f", gbs) << " | " << format_number("%.1f", r.traffic.flops / med / 1e9) << " | "
        << (bw ? format_number("%.0f%%", 100.0 * gbs * 1e9 / *bw) : std::string("-")) << " | "
        << check_cell(r) << " |\n";
  }
  out << '\n';
  for (const auto& r : report.rows) {
    for (const auto& w : row_warnings(report, r)) out << "WARN " << r.name() << ": " << w << '\n';
  }
  for (const auto& [what, why] : report.skipped) out << "SKIP " << what << ": " << why << '\n';
  int checked = 0, failed = 0;
  for (const auto& r : report.rows) {
    checked += r.check ? 1 : 0;
    failed += (r.check && !r.check->passed) ? 1 : 0;
  }
  out << "checks: " << checked - failed << " passed, " << failed << " failed\n";
}

void write_bench_json(const std::string& path, const BenchReport& report) {
  using nlohmann::json;
  json j;
  j["command"] = report.command;
  j["backends"] = report.backends;
  // Files from before the launch gate lack this; bench-compare warns when only one run has it.
  j["cuda_launch_gate"] = true;
  j["skipped"] = json::array();
  for (const auto& [what, why] : report.skipped) j["skipped"].push_back({{"what", what}, {"reason", why}});
  for (const auto& b : report.backends) {
    const std::string name = b.substr(0, b.find(' '));
    if (auto bw = report.copy_bandwidth(name)) j["copy_bandwidth_bytes_per_s"][name] = *bw;
  }
  j["rows"] = json::array();
  for (const auto& r : report.rows) {
    const auto& c = r.bench_case;
    json row = {{"name", r.name()}, {"backend", r.backend}, {"op", c.op}, {"preset", c.preset},
                {"shape", c.shape}, {"dims", c.dims}, {"dtype", std::string(dtype_name(c.dtype))},
                {"graph", r.graph}};
    if (c.state_dtype) row["state_dtype"] = std::string(dtype_name(*c.state_dtype));
    if (!r.skip.empty()) {
      row["skip"] = r.skip;
      if (r.traffic.bytes > 0) row["bytes"] = r.traffic.bytes, row["flops"] = r.traffic.flops;
      j["rows"].push_back(row);
      continue;
    }
    row["timer"] = r.timer;
    row["setup_s"] = r.setup_seconds;
    row["copies"] = r.copies;
    row["passes"] = r.samples.size();
    row["median_s"] = r.median();
    row["p10_s"] = r.quantile(0.1);
    row["p90_s"] = r.quantile(0.9);
    row["min_s"] = r.quantile(0.0);
    row["warnings"] = row_warnings(report, r);
    row["bytes"] = r.traffic.bytes;
    row["flops"] = r.traffic.flops;
    row["formula"] = r.traffic.formula;
    row["bytes_per_s"] = r.traffic.bytes / r.median();
    row["flops_per_s"] = r.traffic.flops / r.median();
    if (auto bw = report.copy_bandwidth(r.backend)) row["fraction_of_copy_bandwidth"] = r.traffic.bytes / r.median() / *bw;
    if (r.check) {
      json chk = {{"passed", r.check->passed}, {"compared", r.check->slice},
                  {"atol", r.check->tolerance.atol}, {"rtol", r.check->tolerance.rtol},
                  {"message", r.check->message}};
      for (const auto& o : r.check->outputs) {
        chk["outputs"][o.name] = {{"max_abs_error", o.comparison.max_abs_error},
                                  {"rel_l2_error", o.comparison.rel_l2_error},
                                  {"mismatches", o.comparison.mismatches},
                                  {"nonfinite", o.comparison.nonfinite},
                                  {"elements", o.comparison.elements}};
      }
      row["check"] = chk;
    } else {
      row["check"] = {{"passed", nullptr}, {"note", r.check_note}};
    }
    j["rows"].push_back(row);
  }
  write_output_file(path, "--json", json_text(j));
}

}  // namespace ssmkit::app
