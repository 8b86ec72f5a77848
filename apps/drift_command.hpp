#pragma once
#include <CLI/CLI.hpp>

namespace ssmkit::app {

// Registers `ssmkit drift` on `app`; the callback stores the exit status in *exit_code.
void add_drift_command(CLI::App& app, int* exit_code);

}  // namespace ssmkit::app
