#include "sweep_results.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/json_input.hpp"

namespace ssmkit::app {
namespace {

using nlohmann::ordered_json;

std::string cell(const ordered_json& v, bool rounded) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (rounded && v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v.get<double>());
    return buf;
  }
  return v.dump();
}

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

Table tabulate(const SweepResults& results, bool rounded, const std::vector<std::string>& only) {
  Table t;
  t.header.push_back("index");
  std::vector<std::string> axes;
  for (const auto& axis : results.at("sweep").at("axes")) {
    axes.push_back(axis.at("path").get<std::string>());
    t.header.push_back(axes.back());
  }
  t.header.push_back("status");
  std::vector<std::string> metrics;
  for (const auto& point : results.at("points")) {
    for (const auto& [key, value] : point.at("metrics").items()) {
      const bool wanted = only.empty() || std::find(only.begin(), only.end(), key) != only.end();
      if (wanted && std::find(metrics.begin(), metrics.end(), key) == metrics.end()) {
        metrics.push_back(key);
      }
    }
  }
  t.header.insert(t.header.end(), metrics.begin(), metrics.end());
  t.header.push_back("message");
  for (const auto& point : results.at("points")) {
    std::vector<std::string> row{std::to_string(point.at("index").get<std::int64_t>())};
    for (const std::string& axis : axes) {
      row.push_back(cell(point.at("values").value(axis, ordered_json()), rounded));
    }
    row.push_back(point.at("status").get<std::string>());
    for (const std::string& m : metrics) {
      row.push_back(cell(point.at("metrics").value(m, ordered_json()), rounded));
    }
    row.push_back(point.value("message", ""));
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string md_field(const std::string& s) {
  std::string out;
  for (const char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c == '\n' ? ' ' : c);
  return out;
}

[[noreturn]] void bad(const std::filesystem::path& file, const std::string& field,
                      const std::string& expected) {
  throw InputError(file.string(), field, expected);
}

}  // namespace

std::string sweep_csv(const SweepResults& results) {
  const Table t = tabulate(results, false, {});
  std::ostringstream os;
  for (const auto* row : {&t.header}) {
    for (std::size_t i = 0; i < row->size(); ++i) os << (i ? "," : "") << csv_field((*row)[i]);
    os << '\n';
  }
  for (const auto& row : t.rows) {
    for (std::size_t i = 0; i < row.size(); ++i) os << (i ? "," : "") << csv_field(row[i]);
    os << '\n';
  }
  return os.str();
}

std::string sweep_markdown(const SweepResults& results, const std::vector<std::string>& only) {
  const Table t = tabulate(results, true, only);
  std::ostringstream os;
  os << '|';
  for (const auto& h : t.header) os << ' ' << md_field(h) << " |";
  os << "\n|";
  for (std::size_t i = 0; i < t.header.size(); ++i) os << "---|";
  os << '\n';
  for (const auto& row : t.rows) {
    os << '|';
    for (const auto& c : row) os << ' ' << md_field(c) << " |";
    os << '\n';
  }
  return os.str();
}

SweepResults merge_sweep_results(const std::vector<std::filesystem::path>& shards) {
  if (shards.empty()) throw InputError("ssmkit sweep merge", "SHARD", "at least one shard result");
  SweepResults merged;
  std::string hash;
  std::int64_t total = 0;
  std::map<std::int64_t, std::pair<std::filesystem::path, ordered_json>> points;
  for (const auto& file : shards) {
    ordered_json doc = parse_json_input<ordered_json>(
        read_text_file(file, "a result of `ssmkit sweep --json`"), file.string(), "a sweep result");
    try {
      if (!doc.is_object() || doc.value("tool", "") != "ssmkit sweep" || !doc.contains("sweep") ||
          !doc["sweep"].is_object() || !doc["sweep"].contains("hash") ||
          !doc["sweep"].contains("axes") || !doc["sweep"].contains("total_points") ||
          !doc.contains("points") || !doc["points"].is_array()) {
        bad(file, "", "a result of `ssmkit sweep --json` (tool, sweep.hash, sweep.axes, sweep.total_points, points)");
      }
      // A shard killed midway left its finished points with complete: false.
      if (doc.contains("complete") && doc["complete"] != true) {
        bad(file, "complete",
            "a finished shard; this one was stopped after " + std::to_string(doc["points"].size()) +
                " of its points (finish it with `ssmkit sweep SWEEP --shard I/N --json " +
                file.string() + " --resume`)");
      }
      const std::string h = doc["sweep"]["hash"].get<std::string>();
      if (!doc["sweep"]["total_points"].is_number_integer() || doc["sweep"]["total_points"].get<std::int64_t>() < 1) {
        bad(file, "sweep.total_points", "a positive integer");
      }
      const std::int64_t n = doc["sweep"]["total_points"].get<std::int64_t>();
      if (merged.is_null()) {
        merged = doc;
        hash = h;
        total = n;
      } else if (h != hash || n != total) {
        bad(file, "sweep.hash",
            "the sweep of " + shards.front().string() + " (hash " + hash + ", " +
                std::to_string(total) + " points), got hash " + h + " with " + std::to_string(n) +
                " points: results of different sweeps cannot be merged");
      }
      for (const auto& point : doc["points"]) {
        // Every field the report reads, so that a corrupt shard is named here, not later.
        const bool well_formed =
            point.is_object() && point.contains("index") && point["index"].is_number_integer() &&
            point.contains("status") && point["status"].is_string() &&
            (point["status"] == "ok" || point["status"] == "failed" || point["status"] == "error") &&
            point.contains("message") && point["message"].is_string() && point.contains("values") &&
            point["values"].is_object() && point.contains("metrics") && point["metrics"].is_object();
        if (!well_formed) {
          bad(file, "points", "points with an integer index, a status (ok, failed or error), a message, "
                              "values and metrics; got " + point.dump().substr(0, 120));
        }
        const std::int64_t index = point["index"].get<std::int64_t>();
        if (index < 0 || index >= total) {
          bad(file, "points", "point indices in [0, " + std::to_string(total) + "), got " +
                                  std::to_string(index));
        }
        const auto [it, fresh] = points.try_emplace(index, file, point);
        if (!fresh) {
          bad(file, "points", "each point once; point " + std::to_string(index) + " is also in " +
                                  it->second.first.string());
        }
      }
    } catch (const nlohmann::json::exception& e) {
      bad(file, "", std::string("a well-formed result of `ssmkit sweep --json`; ") + e.what());
    }
  }
  // Points hold distinct indices below total, so the count missing is the difference; only
  // the first ten are named (a total of 10^12 must not build a list of them).
  const std::int64_t missing = total - static_cast<std::int64_t>(points.size());
  if (missing > 0) {
    std::string list;
    int named = 0;
    for (std::int64_t i = 0; i < total && named < 10; ++i) {
      if (!points.contains(i)) list += (named++ ? ", " : "") + std::to_string(i);
    }
    if (missing > 10) list += ", ...";
    throw InputError("ssmkit sweep merge", "points",
                     "all " + std::to_string(total) + " points of sweep " + hash + "; " +
                         std::to_string(missing) + " missing: " + list +
                         " (a shard not given, or not finished?)");
  }
  merged["shard"] = nullptr;
  ordered_json from = ordered_json::array();
  for (const auto& f : shards) from.push_back(f.string());
  merged["merged_from"] = from;
  ordered_json all = ordered_json::array();
  for (auto& [index, entry] : points) all.push_back(entry.second);
  merged["points"] = all;
  return merged;
}

}  // namespace ssmkit::app
