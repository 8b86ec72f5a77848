#include "budget_vllm.hpp"

#include <iostream>

#include "budget_vllm_report.hpp"
#include "report_output.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "ssmkit/model/units.hpp"

namespace ssmkit::app {
namespace {

vllm::MambaCacheMode parse_mode(const std::string& text) {
  if (text == "none") return vllm::MambaCacheMode::none;
  if (text == "align") return vllm::MambaCacheMode::align;
  if (text == "all") return vllm::MambaCacheMode::all;
  throw InputError("--mamba-cache-mode", "", "none, align or all, got \"" + text + "\"");
}

// What --enable-prefix-caching turns the Mamba cache mode into
// (vllm/model_executor/models/config.py MambaModelConfig.verify_and_update_config): all for
// the model classes that support Mamba prefix caching, align for the others; vLLM 0.11 had
// no align mode and switched prefix caching off for the others (plan_pool applies that).
vllm::MambaCacheMode prefix_caching_mode(const vllm::PoolModel& m, vllm::Era era) {
  if (m.supports_all_mode || era == vllm::Era::v0_11) return vllm::MambaCacheMode::all;
  return vllm::MambaCacheMode::align;
}

}  // namespace

const std::vector<std::string>& vllm_only_flags() {
  static const std::vector<std::string> flags{
      "--vllm-version",  "--kv-memory",          "--max-model-len",          "--max-num-seqs",
      "--dtype",         "--kv-cache-dtype",     "--mamba-cache-dtype",      "--mamba-ssm-cache-dtype",
      "--block-size",    "--mamba-cache-mode",   "--enable-prefix-caching",  "--num-speculative-tokens",
      "--enforce-eager", "--kernel-block-alignment"};
  return flags;
}

const std::vector<std::string>& ssmkit_only_flags() {
  static const std::vector<std::string> flags{"--state-dtype", "--conv-dtype", "--kv-dtype",
                                              "--page-size",   "--context",    "--svg"};
  return flags;
}

void add_vllm_budget_options(CLI::App* cmd, VllmBudgetArgs& a) {
  const std::string only = " (--engine vllm)";
  cmd->add_option("--vllm-version", a.version,
                  "whose rules to reproduce: latest (upstream main of 2026-05, agrees with 0.24.0) or 0.11" + only)
      ->capture_default_str();
  cmd->add_option("--kv-memory", a.kv_memory,
                  "vLLM's \"Available KV cache memory\" per rank, in whole bytes (2469519359) or a size "
                  "(2GiB); default: utilization x GPU memory - reserve" + only);
  cmd->add_option("--max-model-len", a.max_model_len, "default: the config's max_position_embeddings" + only);
  cmd->add_option("--max-num-seqs", a.max_num_seqs,
                  "default: vLLM's for the GPU (1024 from 70 GiB except A100s, else 256)" + only);
  cmd->add_option("--dtype", a.dtype, "auto, bfloat16, float16 (half), float32 (float)" + only)->capture_default_str();
  cmd->add_option("--kv-cache-dtype", a.kv_cache_dtype, "auto, bfloat16, float16, fp8, fp8_e4m3, fp8_e5m2" + only)
      ->capture_default_str();
  cmd->add_option("--mamba-cache-dtype", a.mamba_cache_dtype, "auto, float32, bfloat16, float16" + only)
      ->capture_default_str();
  cmd->add_option("--mamba-ssm-cache-dtype", a.mamba_ssm_cache_dtype, "auto, float32, bfloat16, float16" + only)
      ->capture_default_str();
  cmd->add_option("--block-size", a.block_size, "vLLM's --block-size (default 16, raised for hybrids)" + only);
  cmd->add_option("--mamba-cache-mode", a.mamba_cache_mode, "none, align or all (state prefix caching)" + only);
  cmd->add_flag("--enable-prefix-caching", a.enable_prefix_caching,
                "the Mamba cache mode vLLM picks for the model with prefix caching on" + only);
  cmd->add_option("--num-speculative-tokens", a.num_speculative_tokens, "speculative tokens per step" + only);
  cmd->add_flag("--enforce-eager", a.enforce_eager, "no CUDA graphs, hence no max_num_seqs check" + only);
  cmd->add_option("--kernel-block-alignment", a.kernel_block_alignment,
                  "the attention backend's smallest kernel block (default 16; 64 for MLA)" + only);
}

void run_vllm_budget(const VllmBudgetRun& run) {
  const VllmBudgetArgs& a = run.args;
  const auto given = [&](const std::string& flag) { return run.given.count(flag) > 0; };
  VllmBudgetReport report;
  report.era = vllm::parse_era(a.version, "--vllm-version");
  report.tensor_parallel = run.tensor_parallel;
  if (!a.kv_memory.empty()) {
    if (given("--reserve") || given("--utilization")) {
      throw InputError("--kv-memory", "",
                       "either --kv-memory (the KV cache memory itself) or --utilization/--reserve (to derive "
                       "it), not both");
    }
    report.available_bytes = parse_byte_size(a.kv_memory, "", "--kv-memory");
    if (report.available_bytes == 0) throw InputError("--kv-memory", "", "a positive size, got 0");
    report.available_source = "--kv-memory " + a.kv_memory;
  } else {
    report.available_bytes = run.device.budget_bytes;
    report.available_source = "floor(" + format_number("%g", run.device.utilization) + " x " +
                              std::to_string(run.device.device_memory_bytes) + ") - reserve " +
                              std::to_string(run.device.reserve_bytes) + " (" + run.device.device_description + ")";
  }
  for (const char* flag : {"--block-size", "--kernel-block-alignment", "--max-model-len", "--max-num-seqs"}) {
    const std::int64_t v = std::string(flag) == "--block-size"               ? a.block_size
                           : std::string(flag) == "--kernel-block-alignment" ? a.kernel_block_alignment
                           : std::string(flag) == "--max-model-len"          ? a.max_model_len
                                                                             : a.max_num_seqs;
    if (given(flag) && v < 1) {
      throw InputError(flag, "", "a positive integer, got " + std::to_string(v));
    }
  }
  if (a.num_speculative_tokens < 0) {
    throw InputError("--num-speculative-tokens", "", "0 or more, got " + std::to_string(a.num_speculative_tokens));
  }
  const bool mode_given = !a.mamba_cache_mode.empty();
  const vllm::MambaCacheMode mode = mode_given ? parse_mode(a.mamba_cache_mode) : vllm::MambaCacheMode::none;
  const vllm::DTypeFlags flags{a.dtype, a.kv_cache_dtype, a.mamba_cache_dtype, a.mamba_ssm_cache_dtype};

  for (const std::string& name : run.models) {
    VllmModelReport m;
    m.model = name;
    const ModelSpec spec = resolve_model(name);
    m.source = spec.source;
    const vllm::ConfigFacts facts = vllm::read_config_facts(model_config_text(name), name);
    m.dtypes = vllm::resolve_dtypes(flags, facts, report.era);
    m.pool = vllm::pool_model(spec, facts, m.dtypes, run.tensor_parallel, a.num_speculative_tokens, report.era);
    m.pool.name = name;
    vllm::PoolSettings& s = m.settings;
    s.era = report.era;
    s.available_bytes = report.available_bytes;
    if (given("--max-model-len")) {
      s.max_model_len = a.max_model_len;
    } else if (spec.max_position_embeddings > 0) {
      s.max_model_len = spec.max_position_embeddings;
    } else {
      throw InputError("--max-model-len", "", "a value: " + name + " states no max_position_embeddings");
    }
    s.max_num_seqs = given("--max-num-seqs")
                         ? a.max_num_seqs
                         : vllm::default_max_num_seqs(run.device.device_memory_bytes, run.device.gpu);
    s.block_size = a.block_size;
    s.kernel_block_alignment = a.kernel_block_alignment;
    s.num_speculative_tokens = a.num_speculative_tokens;
    s.full_cudagraphs = !a.enforce_eager;
    s.mamba_cache_mode = mode_given ? mode
                         : a.enable_prefix_caching ? prefix_caching_mode(m.pool, report.era)
                                                   : vllm::MambaCacheMode::none;
    m.plan = vllm::plan_pool(m.pool, s);
    report.models.push_back(std::move(m));
  }
  print_vllm_budget_table(std::cout, report);
  if (!run.json_path.empty()) write_vllm_budget_json(run.json_path, report);
  if (!run.csv_path.empty()) write_vllm_budget_csv(run.csv_path, report);
}

}  // namespace ssmkit::app
