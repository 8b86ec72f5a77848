#pragma once
// The report of `budget --engine vllm`: one row per model, the same column names in the
// table's summary, the JSON rows and the CSV.
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "ssmkit/engine/vllm_model.hpp"
#include "ssmkit/engine/vllm_pool.hpp"

namespace ssmkit::app {

struct VllmModelReport {
  std::string model;   // --model as given
  std::string source;  // where its numbers come from
  vllm::PoolModel pool;
  vllm::ResolvedDTypes dtypes;
  vllm::PoolSettings settings;
  vllm::PoolPlan plan;
};

struct VllmBudgetReport {
  vllm::Era era = vllm::Era::latest;
  std::size_t available_bytes = 0;
  std::string available_source;  // "--kv-memory 2469519359" or the derivation from the GPU
  std::int64_t tensor_parallel = 1;
  std::vector<VllmModelReport> models;
};

// The column names, in order, of the CSV header and of each JSON row.
const std::vector<std::string>& vllm_budget_columns();

void print_vllm_budget_table(std::ostream& os, const VllmBudgetReport& report);
void write_vllm_budget_json(const std::filesystem::path& path, const VllmBudgetReport& report);
void write_vllm_budget_csv(const std::filesystem::path& path, const VllmBudgetReport& report);

}  // namespace ssmkit::app
