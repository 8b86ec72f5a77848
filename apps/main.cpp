#include <CLI/CLI.hpp>
#include <exception>
#include <new>
#include <iostream>

#include "bench_command.hpp"
#include "bench_compare_command.hpp"
#include "cli_checks.hpp"
#include "budget_command.hpp"
#include "drift_command.hpp"
#include "golden_command.hpp"
#include "replay_command.hpp"
#include "ssmkit/error.hpp"
#include "sweep_command.hpp"
#include "validate_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ssmkit: validate and benchmark state-space model caches and scan kernels"};
  app.set_version_flag("--version", std::string("ssmkit ") + SSMKIT_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  ssmkit::app::add_validate_command(app, &exit_code);
  ssmkit::app::add_budget_command(app, &exit_code);
  ssmkit::app::add_replay_command(app, &exit_code);
  ssmkit::app::add_sweep_command(app, &exit_code);
  ssmkit::app::add_bench_command(app, &exit_code);
  ssmkit::app::add_bench_compare_command(app, &exit_code);
  ssmkit::app::add_drift_command(app, &exit_code);
  ssmkit::app::add_golden_command(app, &exit_code);
  ssmkit::app::check_option_values(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 uses exit code 0 for --help/--version; every real usage error becomes 2.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const ssmkit::InputError& e) {
    std::cerr << "ssmkit: " << e.what() << '\n';
    return 2;
  } catch (const std::bad_alloc&) {
    // Sizes from input are bounded (core/ssmkit/limits.hpp); what is left is a host too small.
    std::cerr << "ssmkit: error: out of host memory (std::bad_alloc) for the inputs given; "
                 "see docs/errors.md for the bounds on input sizes\n";
    return 1;
  } catch (const std::exception& e) {
    // A failure no input explains (a CUDA error, say): reported, not an abort.
    std::cerr << "ssmkit: error: " << e.what() << '\n';
    return 1;
  }
  return exit_code;
}
