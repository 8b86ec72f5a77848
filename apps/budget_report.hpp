#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "ssmkit/model/memory_budget.hpp"

namespace ssmkit::app {

// How the budget was stated and derived, for the reports.
struct BudgetSource {
  std::string gpu;                     // --gpu name; empty for --gpu-mem
  std::string device_description;      // "NVIDIA H100 80GB HBM3 (SXM)" or "--gpu-mem 80GiB"
  std::string device_memory_source;    // where the GPU's number comes from
  std::size_t device_memory_bytes = 0;
  double utilization = 0.9;
  std::size_t reserve_bytes = 0;       // weights, activations: not for caches
  std::size_t budget_bytes = 0;        // floor(utilization * device) - reserve
};

// One row: a model under one choice of degree and dtypes.
struct ModelBudget {
  ModelSpec model;
  CacheSettings settings;
  ModelMemory memory;
  std::vector<ContextCapacity> capacities;  // one per context, in order
};

struct BudgetReport {
  BudgetSource budget;
  CacheSettings settings;  // the first row's dtypes, page size, tensor parallel
  std::vector<std::int64_t> contexts;
  std::vector<ModelBudget> models;
};

// What the reports say about the conv window and the split of the budget, word for word.
extern const char* const kConvWindowNote;
extern const char* const kBudgetSplitNote;

// One row per model and settings (models outermost), in order.
BudgetReport compute_budget(const std::vector<ModelSpec>& models, const BudgetSource& budget,
                            const std::vector<CacheSettings>& settings, const std::vector<std::int64_t>& contexts);

// A CSV cell: quoted, with quotes doubled, when it holds a comma, a quote or a newline.
std::string csv_field(const std::string& s);

void print_budget_table(std::ostream& os, const BudgetReport& report);
// Each throws InputError naming the flag when the file cannot be written.
void write_budget_json(const std::filesystem::path& path, const BudgetReport& report);
void write_budget_csv(const std::filesystem::path& path, const BudgetReport& report);
void write_budget_svg(const std::filesystem::path& path, const BudgetReport& report);

}  // namespace ssmkit::app
