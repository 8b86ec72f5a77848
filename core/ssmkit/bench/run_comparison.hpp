#pragma once
// Two `ssmkit bench --json` runs side by side (a baseline and a change, as nvbench_compare
// does for nvbench): rows matched by name, each change called faster, slower or within the
// runs' own noise, so an A/B result is read off one table instead of two.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ssmkit::bench {

struct RunRow {
  std::string name, timer;
  double median_s = 0.0, p10_s = 0.0, p90_s = 0.0;
  std::optional<double> fraction_of_copy;  // absent where the run measured no copy
  bool warned = false;                      // the bench gave the row WARN lines (few passes, noisy)
  bool check_failed = false;                // its output missed the CPU reference
};

struct BenchRun {
  std::string path, command;
  std::map<std::string, double> copy_bandwidth;  // backend -> bytes read + written per second
  std::vector<std::string> devices;               // "cuda (NVIDIA H200, ...)", as the run listed them
  // Whether its CUDA passes were enqueued behind the launch gate (files written before it
  // existed timed the host's launches too).
  bool cuda_launch_gate = false;
  std::vector<RunRow> rows;                       // timed rows
  std::map<std::string, std::string> skipped;     // rows that did not run -> why
};

// Reads a file written by `ssmkit bench --json`. InputError naming the file and the field
// ("rows[3]: median_s") for anything else.
BenchRun load_bench_run(const std::string& path);

enum class Verdict { faster, slower, same };
const char* verdict_name(Verdict v);

struct RowChange {
  std::string name, timer;
  double base_s = 0.0, new_s = 0.0;
  double speedup = 0.0;    // base / new: above 1, the new run is faster
  double threshold = 0.0;  // relative change below which the verdict is `same`
  Verdict verdict = Verdict::same;
  bool warned = false;        // either run's row carried a WARN: the verdict is less sure
  bool check_failed = false;  // the new run's output missed the CPU reference
  bool timer_changed = false;  // the runs timed it differently (events / graph replay / clock)
  std::optional<double> base_fraction, new_fraction;
};

struct RunComparison {
  std::vector<RowChange> rows;                  // in the new run's order
  std::vector<std::string> only_base, only_new;  // names found in one run only
  // Timed in the base run, skipped in the new one, with the new run's reason.
  std::vector<std::pair<std::string, std::string>> newly_skipped;
  // Backends whose copy bandwidth differs between the runs by more than min_change: the
  // runs did not see the same machine state, so times compare less well than % of copy.
  std::vector<std::string> copy_bandwidth_moved;
  bool devices_differ = false;  // both runs list their devices, and not the same ones
  // Both runs timed CUDA rows, one behind the launch gate and one before it existed.
  bool launch_gate_differs = false;
};

// A row is faster or slower when its median moved by more than the larger of `min_change`
// and the runs' mean half-spread ((p90 - p10) / median / 2 of each, averaged).
RunComparison compare_runs(const BenchRun& base, const BenchRun& next, double min_change);

}  // namespace ssmkit::bench
