#pragma once
#include <CLI/CLI.hpp>

#include <filesystem>

namespace ssmkit::app {

// Registers `ssmkit validate` on `app`; the callback stores the exit status in *exit_code.
void add_validate_command(CLI::App& app, int* exit_code);

// The suite `ssmkit validate` runs without a PATH: golden/suite.yaml of the source tree,
// or suite.yaml in $SSMKIT_GOLDEN_DIR when that is set.
std::filesystem::path bundled_suite();

}  // namespace ssmkit::app
