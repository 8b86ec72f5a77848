#include "budget_vllm.hpp"

#include <algorithm>
#include <iostream>

#include "budget_vllm_report.hpp"
#include "report_output.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "ssmkit/model/param_count.hpp"
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
      "--enforce-eager", "--kernel-block-alignment", "--activation-reserve", "--speculative-method"};
  return flags;
}

const std::vector<std::string>& ssmkit_only_flags() {
  static const std::vector<std::string> flags{"--state-dtype", "--conv-dtype", "--kv-dtype", "--page-size"};
  return flags;
}

void add_vllm_budget_options(CLI::App* cmd, VllmBudgetArgs& a) {
  const std::string only = " (--engine vllm)";
  cmd->add_option("--vllm-version", a.version,
                  "whose rules to reproduce: latest (upstream main of 2026-05, agrees with 0.24.0) or 0.11" + only)
      ->capture_default_str();
  cmd->add_option("--kv-memory", a.kv_memory,
                  "vLLM's \"Available KV cache memory\" per rank, in whole bytes (2469519359) or a size "
                  "(2GiB); default: utilization x GPU memory - the weights (--reserve auto) - --activation-reserve" + only);
  cmd->add_option("--max-model-len", a.max_model_len, "default: the config's max_position_embeddings" + only);
  cmd->add_option("--max-num-seqs", a.max_num_seqs,
                  "default: vLLM's for the GPU (1024 from 70 GiB except A100s, else 256)" + only);
  cmd->add_option("--dtype", a.dtype, "auto, bfloat16, float16 (half), float32 (float); a comma list gives a row each" + only)->capture_default_str();
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
  cmd->add_option("--activation-reserve", a.activation_reserve,
                  "memory vLLM's profile takes besides the weights (activation peak, CUDA graphs), "
                  "subtracted with them when --kv-memory is absent" + only)
      ->capture_default_str();
  cmd->add_option("--speculative-method", a.speculative_method,
                  "mtp: the config's MTP layers draft; their attention layers join the pool and their "
                  "weights the reserve" + only);
}

std::vector<std::string> comma_values(const std::string& list, const std::string& flag) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    out.push_back(list.substr(start, comma - start));
    if (out.back().empty()) throw InputError(flag, "", "comma-separated values without empty ones, got \"" + list + "\"");
    start = comma + 1;
  }
  return out;
}

namespace {

// The largest degree the "starts from" search tries: one node of 8 GPUs, times 8.
constexpr std::int64_t kMaxSearchedTp = 64;

// The weights one rank loads: the config's parameter count (its MTP layers too when they
// draft) at the served dtype or the checkpoint's quantization.
VllmWeights count_weights(const std::string& config_text, const std::string& name, const vllm::ResolvedDTypes& d,
                          std::int64_t tp, bool mtp) {
  const ParameterCount count = count_parameters(config_text, name);
  const WeightFormat format = read_weight_format(config_text, name);
  VllmWeights w;
  w.counted = true;
  w.parts = count.parts;
  if (mtp) w.parts.insert(w.parts.end(), count.mtp_parts.begin(), count.mtp_parts.end());
  w.parameters = count.total() + (mtp ? count.mtp_total() : 0);
  w.mtp_parameters = mtp ? count.mtp_total() : 0;
  w.format = format.quantized_bits > 0 ? format.description : std::string(vllm::dtype_name(d.model));
  w.bytes_per_rank = weight_bytes_per_rank(w.parts, format, vllm::dtype_bytes(d.model), tp);
  return w;
}

}  // namespace

void run_vllm_budget(const VllmBudgetRun& run) {
  const VllmBudgetArgs& a = run.args;
  const auto given = [&](const std::string& flag) { return run.given.count(flag) > 0; };
  VllmBudgetReport report;
  report.era = vllm::parse_era(a.version, "--vllm-version");
  std::size_t kv_memory = 0;
  if (!a.kv_memory.empty()) {
    if (given("--reserve") || given("--utilization") || given("--activation-reserve")) {
      throw InputError("--kv-memory", "",
                       "either --kv-memory (the KV cache memory itself) or --utilization/--reserve/"
                       "--activation-reserve (to derive it), not both");
    }
    kv_memory = parse_byte_size(a.kv_memory, "", "--kv-memory");
    if (kv_memory == 0) throw InputError("--kv-memory", "", "a positive size, got 0");
    report.memory_source = "--kv-memory " + a.kv_memory + " (vLLM's \"Available KV cache memory\" per rank)";
    report.budget = "KV cache memory " + a.kv_memory + " per rank";
  } else {
    report.device = run.device.device_description;
    report.memory_source = "floor(" + format_number("%g", run.device.utilization) + " x " +
                           std::to_string(run.device.device_memory_bytes) + ") - weights - activation reserve (" +
                           run.device.device_description + ")";
    report.budget = "gpu_memory_utilization " + format_number("%g", run.device.utilization) + " - " +
                    (run.reserve_auto ? std::string("weights from the config")
                                      : "reserve " + format_bytes(run.device.reserve_bytes));
  }
  const std::size_t activation = parse_byte_size(a.activation_reserve, "", "--activation-reserve");
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
  const bool mtp = !a.speculative_method.empty();
  if (mtp && a.speculative_method != "mtp") {
    throw InputError("--speculative-method", "",
                     "mtp (the only drafter whose layers ssmkit adds to the pool), got \"" + a.speculative_method + "\"");
  }
  const bool mode_given = !a.mamba_cache_mode.empty();
  const vllm::MambaCacheMode mode = mode_given ? parse_mode(a.mamba_cache_mode) : vllm::MambaCacheMode::none;
  const auto dtypes = comma_values(a.dtype, "--dtype");
  const auto kv_dtypes = comma_values(a.kv_cache_dtype, "--kv-cache-dtype");
  const auto conv_dtypes = comma_values(a.mamba_cache_dtype, "--mamba-cache-dtype");
  const auto ssm_dtypes = comma_values(a.mamba_ssm_cache_dtype, "--mamba-ssm-cache-dtype");

  for (const std::string& name : run.models) {
    const ModelSpec spec = resolve_model(name);
    const std::string config_text = model_config_text(name);
    const vllm::ConfigFacts facts = vllm::read_config_facts(config_text, name);
    const std::int64_t mtp_layers = mtp ? count_parameters(config_text, name).mtp_layers : 0;
    // One row: this model at degree tp under one choice of the dtype flags.
    const auto make_row = [&](std::int64_t tp, const vllm::DTypeFlags& flags) {
      VllmModelReport m;
      m.model = name;
      m.source = spec.source;
      m.tensor_parallel = tp;
      m.speculative_method = a.speculative_method;
      m.mtp_layers = mtp_layers;
      m.dtypes = vllm::resolve_dtypes(flags, facts, report.era);
      // vLLM's speculative config: num_speculative_tokens defaults to the drafter's n_predict.
      const std::int64_t num_spec = mtp && !given("--num-speculative-tokens") ? mtp_layers : a.num_speculative_tokens;
      m.pool = vllm::pool_model(spec, facts, m.dtypes, tp, num_spec, report.era);
      m.pool.name = name;
      if (mtp) vllm::add_mtp_layers(m.pool, mtp_layers);
      vllm::PoolSettings& s = m.settings;
      s.era = report.era;
      if (kv_memory > 0) {
        s.available_bytes = kv_memory;
        m.available_source = "--kv-memory " + a.kv_memory;
      } else {
        const std::size_t usable = run.device.budget_bytes + run.device.reserve_bytes;
        if (run.reserve_auto) m.weights = count_weights(config_text, name, m.dtypes, tp, mtp);
        const std::size_t weights = run.reserve_auto ? m.weights.bytes_per_rank : run.device.reserve_bytes;
        m.activation_reserve = activation;
        const std::size_t reserved = weights + activation;
        s.available_bytes = usable > reserved ? usable - reserved : 0;
        s.weight_bytes = weights;
        s.device_bytes = run.device.device_memory_bytes;
        m.available_source = std::to_string(usable) + " - " + (run.reserve_auto ? "weights " : "reserve ") +
                             std::to_string(weights) + " - activation reserve " + std::to_string(activation) +
                             (usable > reserved ? std::string() : " <= 0");
      }
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
      s.num_speculative_tokens = num_spec;
      s.full_cudagraphs = !a.enforce_eager;
      s.mamba_cache_mode = mode_given ? mode
                           : a.enable_prefix_caching ? prefix_caching_mode(m.pool, report.era)
                                                     : vllm::MambaCacheMode::none;
      m.plan = vllm::plan_pool(m.pool, s);
      for (const std::int64_t context : run.contexts) {
        vllm::PoolSettings at = s;
        at.max_model_len = context;
        const bool beyond = spec.max_position_embeddings > 0 && context > spec.max_position_embeddings;
        m.curve.push_back({context, vllm::plan_pool(m.pool, at).max_concurrency, beyond});
      }
      return m;
    };
    for (const std::int64_t tp : run.tensor_parallel) {
      for (const auto& dt : dtypes) {
        for (const auto& kv : kv_dtypes) {
          for (const auto& conv : conv_dtypes) {
            for (const auto& ssm : ssm_dtypes) {
              const vllm::DTypeFlags flags{dt, kv, conv, ssm};
              VllmModelReport m = make_row(tp, flags);
              m.starts_from_tp = m.plan.starts ? tp : 0;
              // Counted weights shrink with the degree: the smallest doubling of it that starts
              // (a --kv-memory or --reserve SIZE is one rank's whatever the degree: no search).
              for (std::int64_t more = tp * 2; !m.plan.starts && run.reserve_auto && more <= kMaxSearchedTp;
                   more *= 2) {
                try {
                  if (make_row(more, flags).plan.starts) {
                    m.starts_from_tp = more;
                    break;
                  }
                } catch (const InputError&) {  // a degree the model's heads do not divide
                }
              }
              report.models.push_back(std::move(m));
            }
          }
        }
      }
    }
  }
  print_vllm_budget_table(std::cout, report);
  if (!run.json_path.empty()) write_vllm_budget_json(run.json_path, report);
  if (!run.csv_path.empty()) write_vllm_budget_csv(run.csv_path, report);
  if (!run.svg_path.empty()) write_vllm_budget_svg(run.svg_path, report);
}

}  // namespace ssmkit::app
