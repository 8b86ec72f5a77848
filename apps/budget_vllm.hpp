#pragma once
// `ssmkit budget --engine vllm`: vLLM's own flag names in, vLLM's KV cache numbers out.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "budget_report.hpp"

namespace ssmkit::app {

struct VllmBudgetArgs {
  std::string version = "latest";             // --vllm-version
  std::string kv_memory;                      // --kv-memory; empty: derived from the GPU
  std::int64_t max_model_len = 0;             // 0: the config's max_position_embeddings
  std::int64_t max_num_seqs = 0;              // 0: vLLM's default for the GPU
  std::string dtype = "auto", kv_cache_dtype = "auto";
  std::string mamba_cache_dtype = "auto", mamba_ssm_cache_dtype = "auto";
  std::int64_t block_size = 0;                // 0: not given
  std::string mamba_cache_mode;               // empty: from --enable-prefix-caching
  bool enable_prefix_caching = false;
  std::int64_t num_speculative_tokens = 0;
  bool enforce_eager = false;
  std::int64_t kernel_block_alignment = 0;    // 0: 16, 64 for MLA
  std::string activation_reserve = "0";       // --activation-reserve: the profile's share, not weights
  std::string speculative_method;             // --speculative-method; empty: none
};

// A flag's comma-separated values, in order (budget's lists of degrees, dtypes and contexts);
// an empty value is an InputError naming the flag.
std::vector<std::string> comma_values(const std::string& list, const std::string& flag);

// The flags only one engine reads; giving one to the other engine is an error naming it.
const std::vector<std::string>& vllm_only_flags();
const std::vector<std::string>& ssmkit_only_flags();

void add_vllm_budget_options(CLI::App* cmd, VllmBudgetArgs& args);

struct VllmBudgetRun {
  std::vector<std::string> models;
  VllmBudgetArgs args;
  // The GPU and utilization x its memory; reserve_bytes is --reserve SIZE unless reserve_auto.
  BudgetSource device;
  bool reserve_auto = false;  // --reserve auto: each row's weights from the model's config
  std::vector<std::int64_t> tensor_parallel{1};  // one row per degree
  std::vector<std::int64_t> contexts;            // the SVG's context lengths
  std::string json_path, csv_path, svg_path;
  std::set<std::string> given;  // the flags on the command line
};

// Prints the table and writes the files; InputError naming the flag on bad input.
void run_vllm_budget(const VllmBudgetRun& run);

}  // namespace ssmkit::app
