#pragma once
#include <CLI/CLI.hpp>

namespace ssmkit::app {

// Registers `ssmkit sweep` (and `ssmkit sweep merge`) on `app`; the callbacks store the exit
// status in *exit_code.
void add_sweep_command(CLI::App& app, int* exit_code);

}  // namespace ssmkit::app
