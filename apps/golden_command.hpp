#pragma once
#include <CLI/CLI.hpp>

namespace ssmkit::app {

// `ssmkit golden make`: docs/golden.md.
void add_golden_command(CLI::App& app, int* exit_code);

}  // namespace ssmkit::app
