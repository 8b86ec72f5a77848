#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ssmkit/error.hpp"

namespace ssmkit {

// A golden file to validate, with the tolerance a YAML suite set for it, if any.
struct SuiteEntry {
  std::filesystem::path path;
  std::optional<double> atol, rtol;
};

// What `validate PATH...` expands to. A path that cannot be used becomes an error, and
// the other paths are still collected, so one bad entry does not hide the rest.
struct CollectedSuite {
  std::vector<SuiteEntry> entries;
  std::vector<InputError> errors;
};

// PATH: a golden file (.h5/.hdf5), a directory (searched recursively for them, sorted),
// or a YAML suite:
//   name: bundled              # optional
//   cases:
//     - causal_conv1d/basic.h5           # relative to the suite file; file or directory
//     - {path: selective_scan/long.h5, atol: 1e-4, rtol: 1e-4}
CollectedSuite collect_suite(const std::vector<std::filesystem::path>& paths);

bool is_yaml_path(const std::filesystem::path& path);

}  // namespace ssmkit
