#include "ssmkit/bench/run_comparison.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/json_input.hpp"
#include "ssmkit/names.hpp"

namespace ssmkit::bench {
namespace {

using nlohmann::json;

double positive_number(const json& row, const std::string& where, const char* key) {
  const auto it = row.find(key);
  // Normal numbers only: a subnormal time would turn into an infinite speedup.
  if (it == row.end() || !it->is_number() || !std::isnormal(it->get<double>()) ||
      it->get<double>() < 0.0) {
    throw InputError(where, key, "expected a positive number (a file from `ssmkit bench --json`)");
  }
  return it->get<double>();
}

std::string text(const json& row, const std::string& where, const char* key) {
  const auto it = row.find(key);
  if (it == row.end() || !it->is_string()) {
    throw InputError(where, key, "expected a string (a file from `ssmkit bench --json`)");
  }
  return it->get<std::string>();
}

double half_spread(double p10, double p90, double median) { return (p90 - p10) / median / 2.0; }

}  // namespace

BenchRun load_bench_run(const std::string& path) {
  const json j = parse_json_input(read_text_file(path, "a file from `ssmkit bench --json`"), path,
                                  "a file from `ssmkit bench --json`");
  if (!j.is_object() || !j.contains("rows") || !j["rows"].is_array()) {
    throw InputError(path, "rows", "expected a list of rows (a file from `ssmkit bench --json`)");
  }
  BenchRun run;
  run.path = path;
  if (j.contains("command") && j["command"].is_string()) run.command = j["command"];
  if (const auto bw = j.find("copy_bandwidth_bytes_per_s"); bw != j.end() && bw->is_object()) {
    for (const auto& [backend, value] : bw->items()) {
      if (!value.is_number() || !std::isnormal(value.get<double>()) || value.get<double>() < 0.0) {
        throw InputError(path, "copy_bandwidth_bytes_per_s." + backend, "expected a positive number");
      }
      run.copy_bandwidth[backend] = value.get<double>();
    }
  }
  if (const auto gate = j.find("cuda_launch_gate"); gate != j.end()) {
    if (!gate->is_boolean()) throw InputError(path, "cuda_launch_gate", "expected true or false");
    run.cuda_launch_gate = gate->get<bool>();
  }
  if (const auto devices = j.find("backends"); devices != j.end() && devices->is_array()) {
    for (const auto& d : *devices) {
      if (d.is_string()) run.devices.push_back(d.get<std::string>());
    }
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < j["rows"].size(); ++i) {
    const json& row = j["rows"][i];
    const std::string where = path + ": rows[" + std::to_string(i) + "]";
    if (!row.is_object()) throw InputError(where, "", "expected a mapping");
    const std::string name = text(row, where, "name");
    if (!seen.insert(name).second) {  // timed or skipped, one row per name
      throw InputError(where, "name", "'" + name + "' appears twice; expected one row per name");
    }
    if (const auto skip = row.find("skip"); skip != row.end()) {  // nothing was timed
      run.skipped[name] = skip->is_string() ? skip->get<std::string>() : "";
      continue;
    }
    RunRow r;
    r.name = name;
    r.timer = text(row, where, "timer");
    r.median_s = positive_number(row, where, "median_s");
    r.p10_s = positive_number(row, where, "p10_s");
    r.p90_s = positive_number(row, where, "p90_s");
    if (!(r.p10_s <= r.median_s && r.median_s <= r.p90_s)) {
      throw InputError(where, "p10_s", "expected p10_s <= median_s <= p90_s");
    }
    if (const auto f = row.find("fraction_of_copy_bandwidth"); f != row.end() && f->is_number()) {
      if (!std::isfinite(f->get<double>()) || f->get<double>() < 0.0) {
        throw InputError(where, "fraction_of_copy_bandwidth", "expected a number >= 0");
      }
      r.fraction_of_copy = f->get<double>();
    }
    if (const auto w = row.find("warnings"); w != row.end() && w->is_array()) r.warned = !w->empty();
    if (const auto chk = row.find("check"); chk != row.end() && chk->is_object()) {
      const auto passed = chk->find("passed");
      r.check_failed = passed != chk->end() && passed->is_boolean() && !passed->get<bool>();
    }
    run.rows.push_back(std::move(r));
  }
  return run;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::faster: return "faster";
    case Verdict::slower: return "slower";
    case Verdict::same: return "same";
  }
  return "?";
}

RunComparison compare_runs(const BenchRun& base, const BenchRun& next, double min_change) {
  RunComparison out;
  // Rows match whatever the case of their names: preset names are case-insensitive
  // ("causal_conv1d/nemotron-h-8b/..." of older runs is "causal_conv1d/Nemotron-H-8B/...").
  std::map<std::string, const RunRow*> by_name;
  for (const auto& r : base.rows) by_name[lowercase(r.name)] = &r;
  std::set<std::string> matched;
  for (const auto& n : next.rows) {
    const auto it = by_name.find(lowercase(n.name));
    if (it == by_name.end()) {
      out.only_new.push_back(n.name);
      continue;
    }
    const RunRow& b = *it->second;
    matched.insert(lowercase(n.name));
    RowChange c;
    c.name = n.name;
    c.timer = n.timer;
    c.base_s = b.median_s;
    c.new_s = n.median_s;
    c.speedup = b.median_s / n.median_s;
    const double noise = (half_spread(b.p10_s, b.p90_s, b.median_s) +
                          half_spread(n.p10_s, n.p90_s, n.median_s)) / 2.0;
    c.threshold = std::max(min_change, noise);
    if (c.speedup > 1.0 + c.threshold) {
      c.verdict = Verdict::faster;
    } else if (c.speedup < 1.0 / (1.0 + c.threshold)) {
      c.verdict = Verdict::slower;
    }
    c.warned = b.warned || n.warned;
    c.check_failed = n.check_failed;
    c.timer_changed = b.timer != n.timer;
    c.base_fraction = b.fraction_of_copy;
    c.new_fraction = n.fraction_of_copy;
    out.rows.push_back(c);
  }
  for (const auto& r : base.rows) {
    if (matched.count(lowercase(r.name))) continue;
    const auto s = std::find_if(next.skipped.begin(), next.skipped.end(),
                                [&](const auto& skip) { return equals_ignoring_case(skip.first, r.name); });
    if (s != next.skipped.end()) {
      out.newly_skipped.emplace_back(r.name, s->second);
    } else {
      out.only_base.push_back(r.name);
    }
  }
  out.devices_differ = !base.devices.empty() && !next.devices.empty() && base.devices != next.devices;
  auto times_cuda = [](const BenchRun& run) {
    return std::any_of(run.rows.begin(), run.rows.end(),
                       [](const RunRow& r) { return r.timer.rfind("cuda", 0) == 0; });
  };
  out.launch_gate_differs =
      times_cuda(base) && times_cuda(next) && base.cuda_launch_gate != next.cuda_launch_gate;
  for (const auto& [backend, bw] : next.copy_bandwidth) {
    const auto it = base.copy_bandwidth.find(backend);
    if (it != base.copy_bandwidth.end() && std::abs(bw / it->second - 1.0) > min_change) {
      out.copy_bandwidth_moved.push_back(backend);
    }
  }
  return out;
}

}  // namespace ssmkit::bench
