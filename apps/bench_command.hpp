#pragma once
#include <CLI/CLI.hpp>

namespace ssmkit::app {

// `ssmkit bench`: every op on chosen backends at model shapes, through Google Benchmark.
void add_bench_command(CLI::App& app, int* exit_code);

}  // namespace ssmkit::app
