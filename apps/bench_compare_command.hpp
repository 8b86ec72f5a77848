#pragma once
#include <CLI/CLI.hpp>

namespace ssmkit::app {

// `ssmkit bench-compare BASE NEW`: two `ssmkit bench --json` files, row by row.
void add_bench_compare_command(CLI::App& app, int* exit_code);

}  // namespace ssmkit::app
