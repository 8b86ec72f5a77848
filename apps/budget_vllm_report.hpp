#pragma once
// The report of `budget --engine vllm`: one row per model, the same column names in the
// table's summary, the JSON rows and the CSV.
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "ssmkit/engine/vllm_model.hpp"
#include "ssmkit/engine/vllm_pool.hpp"
#include "ssmkit/model/param_count.hpp"

namespace ssmkit::app {

// The weights one rank holds, when the budget subtracts them (--reserve auto).
struct VllmWeights {
  bool counted = false;               // false: --kv-memory or --reserve SIZE
  std::vector<ParameterPart> parts;   // what is loaded, MTP layers included when drafted
  std::int64_t parameters = 0;        // all of them, every rank together
  std::int64_t mtp_parameters = 0;    // of which the MTP layers'
  std::string format;                 // "bfloat16" or the quantization
  std::size_t bytes_per_rank = 0;
};

// Maximum concurrency at one max_model_len: a point of the SVG.
struct VllmCurvePoint {
  std::int64_t context = 0;
  double max_concurrency = 0.0;
  bool beyond_limit = false;  // past the model's max_position_embeddings
};

// One row: a model at one tensor-parallel degree and one choice of each dtype flag.
struct VllmModelReport {
  std::string model;   // --model as given
  std::string source;  // where its numbers come from
  std::int64_t tensor_parallel = 1;
  std::string speculative_method;  // "" or "mtp"
  std::int64_t mtp_layers = 0;     // drafted MTP layers in the pool
  VllmWeights weights;
  std::size_t activation_reserve = 0;
  std::string available_source;  // "--kv-memory 2469519359" or the derivation from the GPU
  vllm::PoolModel pool;
  vllm::ResolvedDTypes dtypes;
  vllm::PoolSettings settings;
  vllm::PoolPlan plan;
  std::vector<VllmCurvePoint> curve;
  // The smallest of this degree and its doublings (up to 64) at which vLLM starts with the
  // same flags; 0: none, or not searched (--kv-memory, --reserve SIZE).
  std::int64_t starts_from_tp = 0;
};

struct VllmBudgetReport {
  vllm::Era era = vllm::Era::latest;
  std::string memory_source;  // how each row's available memory is stated or derived
  std::string device;         // the GPU, for the SVG's title; empty with --kv-memory
  std::string budget;         // the budget in a few words, for the SVG's title
  std::vector<VllmModelReport> models;
};

// The column names, in order, of the CSV header and of each JSON row.
const std::vector<std::string>& vllm_budget_columns();

void print_vllm_budget_table(std::ostream& os, const VllmBudgetReport& report);
void write_vllm_budget_json(const std::filesystem::path& path, const VllmBudgetReport& report);
void write_vllm_budget_csv(const std::filesystem::path& path, const VllmBudgetReport& report);
// Maximum concurrency against context length, one line per row; points past the model's
// limit drawn hollow.
void write_vllm_budget_svg(const std::filesystem::path& path, const VllmBudgetReport& report);

}  // namespace ssmkit::app
