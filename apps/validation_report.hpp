#pragma once
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "ssmkit/validation.hpp"

namespace ssmkit::app {

struct SkippedBackend {
  std::string name, reason;
};

struct ValidationReport {
  std::vector<std::string> backends;  // "cpu (CPU float64 reference)"
  std::vector<SkippedBackend> skipped;
  std::vector<CaseResult> rows;

  int passed() const;
  int failed() const;  // FAIL rows and backends that threw
  int input_errors() const;
};

// For people: an aligned table, the reasons for each FAIL/ERROR, a closing count line.
void print_table(std::ostream& os, const ValidationReport& report);
// For machines and dashboards. Both throw InputError when the file cannot be written.
void write_json(const std::filesystem::path& path, const ValidationReport& report);
void write_junit(const std::filesystem::path& path, const ValidationReport& report);

}  // namespace ssmkit::app
