#pragma once
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/bench/check.hpp"

namespace ssmkit::app {

// One benchmark row: a case on a backend with one timer, and what it measured.
struct BenchRow {
  std::string backend;
  bench::BenchCase bench_case;  // op "memory_copy" for the copies
  bool graph = false;           // timed as CUDA graph replays
  std::int64_t copy_bytes = 0;  // memory_copy rows: the buffer size
  bool bandwidth_reference = false;  // the copy every "% BW" of its backend is of
  bench::Traffic traffic;
  int copies = 0;
  std::string timer;
  std::vector<double> samples;  // seconds per call, one per timed pass
  std::optional<bench::CheckResult> check;
  std::string check_note;  // why there is no check ("CPU reference", "--no-check")
  std::string skip;        // why the row did not run
  double setup_seconds = 0.0;  // generating inputs, uploading, checking

  std::string name() const;
  double median() const;
  double quantile(double q) const;
};

struct BenchReport {
  std::string command;
  std::vector<std::string> backends;          // "cuda (NVIDIA H100 ..., driver ...)"
  std::vector<std::pair<std::string, std::string>> skipped;  // (what, why)
  std::vector<BenchRow> rows;

  // The backend's reference copy row (1 GiB on a GPU), if it is in the report.
  const BenchRow* reference_copy(const std::string& backend) const;
  // Its bandwidth (bytes read + written per second), if it ran; never another row's.
  std::optional<double> copy_bandwidth(const std::string& backend) const;
  int failed_checks() const;
};

void print_markdown(std::ostream& out, const BenchReport& report);
void write_bench_json(const std::string& path, const BenchReport& report);

}  // namespace ssmkit::app
