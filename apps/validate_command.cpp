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
};

int run_validate(const ValidateArgs& args) {
  // Checked here, not by CLI11's range, which lets NaN through (NaN or infinity would pass
  // every case).
  for (const auto& [flag, value] : {std::pair{"--atol", args.atol}, std::pair{"--rtol", args.rtol}}) {
    if (value) require_tolerance_value(*value, flag, std::to_string(*value));
  }
  if (!args.json_path.empty()) check_output_file(args.json_path, "--json");
  if (!args.junit_path.empty()) check_output_file(args.junit_path, "--junit");
  ValidationReport report;
  std::vector<std::unique_ptr<Backend>> owned;
  const std::vector<std::string> wanted =
      args.backend == "all" ? backend_names() : std::vector<std::string>{args.backend};
  for (const auto& name : wanted) {
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
  const ValidationOptions options{args.atol, args.rtol};
  for (const auto& entry : suite.entries) {
    for (auto& row : validate_case(entry, backends, options)) report.rows.push_back(row);
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
  cmd->add_option("paths", args->paths,
                  "golden files, directories of them, or YAML suites (default: the bundled suite)");
  cmd->callback([args, exit_code] { *exit_code = run_validate(*args); });
}

}  // namespace ssmkit::app
