#include "sweep_command.hpp"

#include <iostream>
#include <algorithm>
#include <memory>
#include <set>

#include "progress_bar.hpp"
#include "replay_report.hpp"
#include "report_output.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/json_input.hpp"
#include "ssmkit/scenario/sweep.hpp"
#include "sweep_results.hpp"
#include "sweep_runners.hpp"

namespace ssmkit::app {
namespace {

using nlohmann::ordered_json;

struct Outputs {
  std::string json_path, csv_path, markdown_path;
};

struct SweepArgs {
  std::string file;
  std::string shard;
  bool resume = false;
  Outputs out;
};

// The points a killed run of this sweep and shard finished, from its --json file.
ordered_json finished_points(const std::string& path, const ordered_json& results) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return ordered_json::array();
  const auto doc = parse_json_input<ordered_json>(read_text_file(path, "a result of `ssmkit sweep --json`"),
                                                  path, "a sweep result to resume");
  if (!doc.is_object() || doc.value("tool", "") != "ssmkit sweep" || !doc.contains("points") ||
      !doc["points"].is_array() || !doc.contains("sweep") || !doc["sweep"].is_object()) {
    throw InputError(path, "--resume", "a result of `ssmkit sweep --json` to continue");
  }
  if (doc["sweep"].value("hash", "") != results["sweep"]["hash"] || doc.value("shard", ordered_json()) != results["shard"]) {
    throw InputError(path, "--resume",
                     "the results of this sweep (hash " + results["sweep"]["hash"].get<std::string>() +
                         ") and shard; the file holds another sweep or shard");
  }
  return doc["points"];
}

struct MergeArgs {
  std::string output;
  std::vector<std::string> shards;
  Outputs out;
};

void add_table_outputs(CLI::App* cmd, Outputs& out) {
  cmd->add_option("--csv", out.csv_path, "write one CSV row per point to FILE");
  cmd->add_option("--markdown", out.markdown_path, "write the table as Markdown to FILE");
}

// The table on stdout (the runner's headline metrics; the files have them all); the files
// asked for; 0 when every point is ok, else 1.
int report(const SweepResults& results, const Outputs& out) {
  const PointRunner* runner = find_sweep_runner(results["sweep"].value("command", ""));
  std::cout << sweep_markdown(results, runner ? runner->headline : std::vector<std::string>{});
  std::int64_t ok = 0, failed = 0, errors = 0;
  for (const auto& p : results["points"]) {
    const std::string status = p["status"].get<std::string>();
    (status == "ok" ? ok : status == "failed" ? failed : errors) += 1;
  }
  std::cout << '\n' << ok << " ok, " << failed << " failed, " << errors << " errors\n";
  for (const auto& p : results["points"]) {
    if (p["status"] != "ok") {
      std::cout << p["status"].get<std::string>() << " point " << p["index"] << ": "
                << p["message"].get<std::string>() << '\n';
    }
  }
  if (!out.json_path.empty()) write_output_file(out.json_path, "--json", json_text(results));
  if (!out.csv_path.empty()) write_output_file(out.csv_path, "--csv", sweep_csv(results));
  if (!out.markdown_path.empty()) write_output_file(out.markdown_path, "--markdown", sweep_markdown(results));
  return failed + errors == 0 ? 0 : 1;
}

// Before the points run: a path that could not be written at the end is an error now.
void check_outputs(const Outputs& out) {
  if (!out.json_path.empty()) check_output_file(out.json_path, "--json");
  if (!out.csv_path.empty()) check_output_file(out.csv_path, "--csv");
  if (!out.markdown_path.empty()) check_output_file(out.markdown_path, "--markdown");
}

int run_sweep(const SweepArgs& a) {
  check_outputs(a.out);
  const Sweep sweep = load_sweep(a.file);
  const PointRunner* runner = find_sweep_runner(sweep.command);
  if (runner == nullptr) {
    std::string names;
    for (const PointRunner& r : sweep_runners()) names += (names.empty() ? "" : ", ") + std::string(r.name);
    throw InputError(sweep.command_where, "command", "one of " + names + ", got '" + sweep.command + "'");
  }
  const Shard shard = a.shard.empty() ? Shard{} : parse_shard(a.shard);
  const auto total = static_cast<std::int64_t>(sweep.points.size());
  const std::vector<std::int64_t> indices = shard_points(total, shard);

  ordered_json axes = ordered_json::array();
  for (const SweepAxis& axis : sweep.axes) axes.push_back({{"path", axis.path}, {"values", axis.values}});
  SweepResults results = {
      {"tool", "ssmkit sweep"},
      {"sweep",
       {{"name", sweep.name},
        {"source", sweep.source},
        {"command", sweep.command},
        {"hash", sweep.hash},
        {"total_points", total},
        {"axes", axes}}},
      {"shard", {{"index", shard.index}, {"count", shard.count}}},
      {"complete", false},
      {"points", ordered_json::array()}};
  if (sweep.command == "replay") results["note"] = kAccountingOnly;
  std::set<std::int64_t> done_before;
  if (a.resume) {
    if (a.out.json_path.empty()) {
      throw InputError("ssmkit sweep", "--resume", "--json FILE, the results of the run to continue");
    }
    for (const auto& p : finished_points(a.out.json_path, results)) {
      if (!p.is_object() || !p.contains("index") || !p["index"].is_number_integer()) {
        throw InputError(a.out.json_path, "points", "points with an integer index");
      }
      done_before.insert(p["index"].get<std::int64_t>());
      results["points"].push_back(p);
    }
  }

  ProgressBar bar("sweep", static_cast<std::int64_t>(indices.size()));
  std::int64_t done = 0;
  for (const std::int64_t index : indices) {
    if (done_before.contains(index)) {
      bar.update(++done);
      continue;
    }
    bar.update(done, "point " + std::to_string(index));
    const SweepPoint& point = sweep.points[static_cast<std::size_t>(index)];
    PointOutcome outcome;
    try {
      outcome = runner->run(point.scenario);
    } catch (const std::exception& e) {
      // Input errors, a backend not there, or a point too large to hold: recorded on the
      // point, and the points already run are kept.
      outcome.status = "error";
      outcome.message = e.what();
    }
    ordered_json values = ordered_json::object();
    for (std::size_t i = 0; i < sweep.axes.size(); ++i) values[sweep.axes[i].path] = point.values[i];
    results["points"].push_back({{"index", index},
                                 {"values", values},
                                 {"status", outcome.status},
                                 {"message", outcome.message},
                                 {"metrics", outcome.metrics}});
    // After every point: a killed run keeps what it finished (complete: false), and
    // --resume continues from there.
    if (!a.out.json_path.empty()) write_output_file(a.out.json_path, "--json", json_text(results));
    bar.update(++done);
  }
  bar.finish();
  std::sort(results["points"].begin(), results["points"].end(),
            [](const ordered_json& x, const ordered_json& y) { return x["index"] < y["index"]; });
  results["complete"] = true;
  return report(results, a.out);
}

int run_merge(const MergeArgs& a) {
  const std::vector<std::filesystem::path> shards(a.shards.begin(), a.shards.end());
  const SweepResults merged = merge_sweep_results(shards);
  Outputs out = a.out;
  out.json_path = a.output;
  return report(merged, out);
}

}  // namespace

void add_sweep_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<SweepArgs>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Run replay, budget, validate or bench at every point of a grid of scenario values");
  cmd->add_option("sweep", args->file, "a sweep YAML (scenarios/README.md)");
  cmd->add_option("--shard", args->shard,
                  "I/N: run points I, I+N, I+2N, ... (0 <= I < N), e.g. a Slurm array task");
  cmd->add_option("--json", args->out.json_path,
                  "write the results to FILE (the format `sweep merge` reads), after every point");
  cmd->add_flag("--resume", args->resume,
                "continue a killed run: keep the points its --json FILE holds, run the rest");
  add_table_outputs(cmd, args->out);

  auto merge = std::make_shared<MergeArgs>();
  CLI::App* m = cmd->add_subcommand("merge", "Join the JSON results of a sweep's shards");
  m->add_option("output", merge->output, "the merged JSON to write")->required();
  m->add_option("shards", merge->shards, "the shards' JSON results")->required();
  add_table_outputs(m, merge->out);

  cmd->callback([cmd, m, args, merge, exit_code] {
    if (m->parsed()) {
      *exit_code = run_merge(*merge);
      return;
    }
    if (args->file.empty()) throw InputError("ssmkit sweep", "SWEEP", "a sweep YAML file");
    *exit_code = run_sweep(*args);
  });
}

}  // namespace ssmkit::app
