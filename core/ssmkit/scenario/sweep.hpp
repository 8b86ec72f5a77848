#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ssmkit/scenario/scenario.hpp"

namespace ssmkit {

// One axis of a sweep: a scenario field by its dotted path ("cache.page_size", "model",
// "workload.synthetic.arrival_rate") and the values it takes.
struct SweepAxis {
  std::string path;
  std::vector<std::string> values;  // as written, in YAML flow style: "16", "{gpu: h100, ...}"
};

struct SweepPoint {
  std::int64_t index = 0;
  std::vector<std::string> values;  // one per axis
  Scenario scenario;
};

// A base scenario and axes over its fields, expanded as a cartesian product in row-major
// order: the first axis varies slowest and the last fastest, as nested loops written in the
// axes' order; point i is the i-th of that order.
struct Sweep {
  std::string source;  // the sweep file
  std::string name;
  std::string command;        // what runs at each point ("replay", "budget")
  std::string command_where;  // file:line:column of `command`, for an unknown command
  std::vector<SweepAxis> axes;
  std::vector<SweepPoint> points;
  // FNV-1a 64 of the command and every point's full scenario (16 hex digits): shards of one
  // sweep carry the same hash, and any change to the base, the axes or their order
  // changes it. Files a scenario names (traces, config.json) enter by path, not content.
  std::string hash;
};

// Reads a sweep file (schema in scenarios/README.md) and expands it; every point's
// scenario is parsed, and its model resolved, so that a bad value is an InputError at the
// axis value's file:line:column before anything runs.
Sweep load_sweep(const std::filesystem::path& file);

// "--shard I/N": the points I, I+N, I+2N, ... of a sweep, 0 <= I < N.
struct Shard {
  std::int64_t index = 0, count = 1;
};
Shard parse_shard(std::string_view text);  // InputError on anything but I/N with 0 <= I < N
std::vector<std::int64_t> shard_points(std::int64_t total_points, const Shard& shard);

}  // namespace ssmkit
