#include "validate_command.hpp"

#include <cstdlib>
#include <iostream>
#include <memory>

#include "backends.hpp"
#include "report_output.hpp"
#include "ssmkit/tolerance.hpp"
#include "validation_report.hpp"

namespace ssmkit::app {
namespace {

struct ValidateArgs {
  std::string backend = "cpu";
  std::optional<double> atol, rtol;
  std::string json_path, junit_path;
  std::vector<std::string> paths;
  std::vector<std::string> candidates;
};

// The golden a candidate belongs to: the one its `golden` attribute names (a file name or a
// path), else the one whose file name it shares. InputError naming the candidate otherwise.
const SuiteEntry& golden_for(const Candidate& c, const std::vector<SuiteEntry>& goldens) {
  const SuiteEntry* match = nullptr;
  for (const auto& g : goldens) {
    const bool hit = c.golden.empty()
                         ? g.path.filename() == c.path.filename() || g.path.stem() == c.path.stem()
                         : g.path.filename() == c.golden || g.path == c.golden;
    if (!hit) continue;
    if (match != nullptr) {
      throw InputError(c.path.string(), c.golden.empty() ? "file name" : "attribute 'golden'",
                       "matches two goldens (" + match->path.string() + ", " + g.path.string() +
                           "); name one by its path in the attribute 'golden'");
    }
    match = &g;
  }
  if (match == nullptr) {
    throw InputError(c.path.string(), c.golden.empty() ? "file name" : "attribute 'golden'",
                     c.golden.empty()
                         ? "no golden given shares this file's name; set the root attribute "
                           "'golden' to the golden's file name"
                         : "names '" + c.golden + "', which is none of the goldens given");
  }
  return *match;
}

// validate --candidate: each candidate against its golden; goldens without a candidate are
// not rows (listed on stderr).
void validate_candidates(const ValidateArgs& args, const CollectedSuite& suite,
                         const ValidationOptions& options, ValidationReport& report) {
  auto reference = make_backend("cpu");
  report.backends.push_back("candidates, expected from the goldens (or " + reference->name() +
                            " (" + reference->device_description() + ") where a golden has none)");
  std::vector<bool> used(suite.entries.size(), false);
  for (const auto& path : args.candidates) {
    try {
      const Candidate c = load_candidate(path);
      const SuiteEntry& golden = golden_for(c, suite.entries);
      used[&golden - suite.entries.data()] = true;
      report.rows.push_back(validate_candidate(golden, c, *reference, options));
    } catch (const InputError& e) {
      report.rows.push_back(input_error_row(e));
    }
  }
  for (std::size_t i = 0; i < used.size(); ++i) {
    if (!used[i]) std::cerr << "note: no candidate for " << suite.entries[i].path.string() << '\n';
  }
}

int run_validate(const ValidateArgs& args) {
  // Checked here, not by CLI11's range, which lets NaN through (NaN or infinity would pass
  // every case).
  for (const auto& [flag, value] : {std::pair{"--atol", args.atol}, std::pair{"--rtol", args.rtol}}) {
    if (value) require_tolerance_value(*value, flag, std::to_string(*value));
  }
  if (!args.json_path.empty()) check_output_file(args.json_path, "--json");
  if (!args.junit_path.empty()) check_output_file(args.junit_path, "--junit");
  ValidationReport report;
  const ValidationOptions options{args.atol, args.rtol};
  std::vector<std::unique_ptr<Backend>> owned;
  const std::vector<std::string> wanted =
      args.backend == "all" ? backend_names() : std::vector<std::string>{args.backend};
  for (const auto& name : args.candidates.empty() ? wanted : std::vector<std::string>{}) {
    try {
      owned.push_back(make_backend(name));
    } catch (const BackendUnavailable& e) {
      if (args.backend != "all") {
        std::cerr << "ssmkit validate: " << e.what() << '\n';
        return 2;
      }
      report.skipped.push_back({name, e.what()});
    }
  }
  std::vector<Backend*> backends;
  for (auto& b : owned) {
    backends.push_back(b.get());
    report.backends.push_back(b->name() + " (" + b->device_description() + ")");
  }

  std::vector<std::filesystem::path> paths(args.paths.begin(), args.paths.end());
  if (paths.empty()) paths.push_back(bundled_suite());
  const CollectedSuite suite = collect_suite(paths);
  for (const auto& error : suite.errors) report.rows.push_back(input_error_row(error));
  if (!args.candidates.empty()) {
    validate_candidates(args, suite, options, report);
  } else {
    for (const auto& entry : suite.entries) {
      for (auto& row : validate_case(entry, backends, options)) report.rows.push_back(row);
    }
  }

  for (const auto& b : report.backends) std::cout << "backend: " << b << '\n';
  std::cout << '\n';
  print_table(std::cout, report);
  try {
    if (!args.json_path.empty()) write_json(args.json_path, report);
    if (!args.junit_path.empty()) write_junit(args.junit_path, report);
  } catch (const InputError& e) {
    std::cerr << "ssmkit validate: " << e.what() << '\n';
    return 2;
  }
  if (report.rows.empty()) {
    std::cerr << "ssmkit validate: no golden cases found\n";
    return 2;
  }
  if (report.input_errors() > 0) return 2;
  return report.failed() > 0 ? 1 : 0;
}

}  // namespace

std::filesystem::path bundled_suite() {
  if (const char* dir = std::getenv("SSMKIT_GOLDEN_DIR")) {
    return std::filesystem::path(dir) / "suite.yaml";
  }
  return std::filesystem::path(SSMKIT_SOURCE_DIR) / "golden" / "suite.yaml";
}

void add_validate_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "validate", "Run golden cases on one or more backends and compare with their outputs");
  cmd->add_option("--backend", args->backend, "cpu, cuda or all (all skips, visibly, what is unavailable)")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}))
      ->capture_default_str();
  cmd->add_option("--atol", args->atol, "absolute tolerance for every case (overrides all others)");
  cmd->add_option("--rtol", args->rtol, "relative tolerance for every case (overrides all others)");
  cmd->add_option("--json", args->json_path, "write every number as JSON to FILE");
  cmd->add_option("--junit", args->junit_path, "write JUnit XML for CI dashboards to FILE");
  cmd->add_option("--candidate", args->candidates,
                  "HDF5 files of outputs from another implementation, each compared with the "
                  "golden it names (attribute 'golden') or shares its file name with; "
                  "repeat the flag for several")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->expected(1)
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  cmd->add_option("paths", args->paths,
                  "golden files, directories of them, or YAML suites (default: the bundled suite)");
  cmd->callback([args, exit_code] { *exit_code = run_validate(*args); });
}

}  // namespace ssmkit::app
