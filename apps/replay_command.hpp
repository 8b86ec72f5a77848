#pragma once
#include <CLI/CLI.hpp>

namespace ssmkit::app {

// Registers `ssmkit replay` on `app`; the callback stores the exit status in *exit_code.
void add_replay_command(CLI::App& app, int* exit_code);

}  // namespace ssmkit::app
