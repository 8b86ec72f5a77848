#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ssmkit::app {

// A sweep's results as JSON (the format shards are merged from):
//   {"tool": "ssmkit sweep", "sweep": {name, source, command, hash, total_points,
//    axes: [{path, values}]}, "shard": {index, count} | null, "merged_from": [...],
//    "points": [{index, values: {axis: value}, status, message, metrics: {...}}]}
// points ordered by index.
using SweepResults = nlohmann::ordered_json;

// One row per point: index, the axes' values, status, then the metrics (the union over the
// points, in first-seen order; or only those named in `only`, when given), then the
// message; empty cells where a point lacks a metric. CSV keeps every digit; Markdown
// rounds numbers to 4 significant digits for reading.
std::string sweep_csv(const SweepResults& results);
std::string sweep_markdown(const SweepResults& results, const std::vector<std::string>& only = {});

// Joins shard results: every file must come from the same sweep (hash and point count),
// no point may appear twice and none may be missing. InputError naming the file and
// the point otherwise.
SweepResults merge_sweep_results(const std::vector<std::filesystem::path>& shards);

}  // namespace ssmkit::app
