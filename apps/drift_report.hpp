#pragma once
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "ssmkit/drift/drift.hpp"

namespace ssmkit::app {

struct DriftReport {
  std::string model, model_source;
  std::string backend, backend_device, reference_device;
  std::string inputs;  // "synthetic (seed N)" or the trace's path
  std::int64_t prefill = 0;
  DriftOptions options;
  std::vector<DriftLayerResult> layers;
};

void print_drift_table(std::ostream& os, const DriftReport& report);
// Each throws InputError naming the flag when the file cannot be written.
void write_drift_json(const std::filesystem::path& path, const DriftReport& report);
void write_drift_csv(const std::filesystem::path& path, const DriftReport& report);
void write_drift_svg(const std::filesystem::path& path, const DriftReport& report);

}  // namespace ssmkit::app
