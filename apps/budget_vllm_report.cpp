#include "budget_vllm_report.hpp"

#include <nlohmann/json.hpp>
#include <sstream>

#include "budget_report.hpp"
#include "report_output.hpp"
#include "ssmkit/model/units.hpp"

namespace ssmkit::app {
namespace {

using json = nlohmann::ordered_json;
using vllm::PoolPlan;

// 75840 -> "75,840", as vLLM's log lines print counts.
std::string with_commas(std::int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
  return (v < 0 ? "-" : "") + digits;
}

std::int64_t state_groups(const PoolPlan& p) {
  std::int64_t n = 0;
  for (const auto& g : p.groups) n += g.attention ? 0 : 1;
  return n;
}

std::int64_t group_blocks(const PoolPlan& p, bool attention) {
  std::int64_t n = 0;
  for (const auto& g : p.groups) n += g.attention == attention ? g.blocks_per_request : 0;
  return n;
}

std::string verdict(const VllmModelReport& m) {
  return m.plan.starts ? "starts" : "fails: " + m.plan.error;
}

// One row: the values of vllm_budget_columns(), in order.
json row(const VllmBudgetReport& r, const VllmModelReport& m) {
  const PoolPlan& p = m.plan;
  const vllm::PoolSettings& s = m.settings;
  return json{{"model", m.model},
              {"engine", "vllm"},
              {"vllm_version", std::string(vllm::era_name(r.era))},
              {"tensor_parallel", r.tensor_parallel},
              {"available_kv_cache_bytes", s.available_bytes},
              {"dtype", std::string(vllm::dtype_name(m.dtypes.model))},
              {"kv_cache_dtype", std::string(vllm::dtype_name(m.dtypes.kv))},
              {"mamba_cache_dtype", std::string(vllm::dtype_name(m.dtypes.conv))},
              {"mamba_ssm_cache_dtype", std::string(vllm::dtype_name(m.dtypes.ssm))},
              {"mamba_cache_mode", std::string(vllm::mamba_cache_mode_name(p.mamba_cache_mode))},
              {"num_speculative_tokens", s.num_speculative_tokens},
              {"max_model_len", s.max_model_len},
              {"max_num_seqs", s.max_num_seqs},
              {"attention_layers", m.pool.attention_layers},
              {"state_layers", m.pool.state_layers},
              {"state_family", m.pool.state_layers > 0 ? m.pool.state.family : std::string()},
              {"state_page_bytes", p.state_page_bytes},
              {"attention_bytes_per_token", m.pool.attention_bytes_per_token},
              {"attention_block_size", p.block_size},
              {"page_bytes", p.page_bytes},
              {"state_padding_percent", p.state_padding_percent},
              {"group_size", p.group_size},
              {"kv_cache_groups", p.groups.size()},
              {"padding_layers", p.padding_layers},
              {"num_blocks", p.num_blocks},
              {"blocks_per_request", p.blocks_per_request},
              {"gpu_kv_cache_tokens", p.gpu_kv_cache_tokens},
              {"max_concurrency", p.max_concurrency},
              {"starts", p.starts},
              {"error", p.error},
              {"largest_max_num_seqs", p.largest_max_num_seqs},
              {"largest_max_model_len", p.largest_max_model_len}};
}

std::string csv_cell(const json& v) { return csv_field(v.is_string() ? v.get<std::string>() : v.dump()); }

}  // namespace

const std::vector<std::string>& vllm_budget_columns() {
  static const std::vector<std::string> columns = [] {
    std::vector<std::string> names;
    const json empty = row(VllmBudgetReport{}, VllmModelReport{});
    for (const auto& [key, value] : empty.items()) names.push_back(key);
    return names;
  }();
  return columns;
}

void print_vllm_budget_table(std::ostream& os, const VllmBudgetReport& r) {
  os << "engine        " << vllm::era_description(r.era) << '\n'
     << "available     " << format_bytes(r.available_bytes) << " (" << r.available_bytes
     << " B) of KV cache memory per rank: " << r.available_source << '\n'
     << "parallel      tensor parallel " << r.tensor_parallel << ": one rank's caches\n"
     << "conv window   W-1 columns per channel (vLLM's conv state), plus one per speculative token where "
        "the model class passes them on\n";
  for (const VllmModelReport& m : r.models) {
    const PoolPlan& p = m.plan;
    const vllm::PoolSettings& s = m.settings;
    os << "\n== " << m.model << '\n' << "   source        " << m.source << '\n';
    os << "   layers        " << m.pool.attention_layers << " attention" << (m.pool.mla ? " (MLA)" : "") << ", "
       << m.pool.state_layers << " state" << (m.pool.state_layers > 0 ? " (" + m.pool.state.family + ")" : "")
       << '\n'
       << "   dtypes        model " << vllm::dtype_name(m.dtypes.model) << ", KV " << vllm::dtype_name(m.dtypes.kv)
       << ", conv/mamba " << vllm::dtype_name(m.dtypes.conv) << ", SSM " << vllm::dtype_name(m.dtypes.ssm) << '\n';
    for (const std::string& note : m.dtypes.notes) os << "   note          " << note << '\n';
    if (!p.mode_note.empty()) os << "   note          " << p.mode_note << '\n';
    if (m.pool.attention_layers > 0) {
      os << "   attention     " << m.pool.attention_bytes_per_token << " B per token per layer\n";
    }
    if (m.pool.state_layers > 0) {
      os << "   state page    " << p.state_page_bytes << " B per layer = " << m.pool.state.describe() << '\n';
    }
    if (m.pool.attention_layers > 0 && m.pool.state_layers > 0) {
      os << "   attention block size " << p.block_size << ", state page padded by "
         << format_number("%.2f", p.state_padding_percent) << "%"
         << (p.block_size_raised ? " (block size raised to hold a whole state page)" : "") << '\n';
    } else if (m.pool.attention_layers > 0) {
      os << "   attention block size " << p.block_size << '\n';
    }
    os << "   page          " << p.page_bytes << " B; " << p.groups.size() << " KV cache group"
       << (p.groups.size() == 1 ? "" : "s") << " of " << p.group_size << " layers (" << state_groups(p)
       << " state, " << p.groups.size() - static_cast<std::size_t>(state_groups(p)) << " attention; "
       << p.padding_layers << " padding layer" << (p.padding_layers == 1 ? "" : "s") << "), mamba cache mode "
       << vllm::mamba_cache_mode_name(p.mamba_cache_mode) << '\n'
       << "   num_blocks    " << p.num_blocks << " = " << s.available_bytes << " // " << p.page_bytes << " // "
       << p.group_size << '\n'
       << "   per request   " << p.blocks_per_request << " blocks at max_model_len " << with_commas(s.max_model_len)
       << " (" << group_blocks(p, true) << " attention, " << group_blocks(p, false) << " state)\n"
       << "   GPU KV cache size: " << with_commas(p.gpu_kv_cache_tokens) << " tokens\n"
       << "   Maximum concurrency for " << with_commas(s.max_model_len)
       << " tokens per request: " << format_number("%.2f", p.max_concurrency) << "x\n"
       << "   max_num_seqs " << s.max_num_seqs << ": " << verdict(m) << '\n'
       << "   largest       max_num_seqs that starts: "
       << (p.largest_max_num_seqs < 0 ? std::string("no limit from the pool (no max_num_seqs check here)")
                                      : std::to_string(p.largest_max_num_seqs))
       << "; max_model_len that fits: " << with_commas(p.largest_max_model_len) << '\n';
  }
}

void write_vllm_budget_json(const std::filesystem::path& path, const VllmBudgetReport& r) {
  json out{{"engine", "vllm"},
           {"vllm_version", std::string(vllm::era_name(r.era))},
           {"rules", std::string(vllm::era_description(r.era))},
           {"available_kv_cache_bytes", r.available_bytes},
           {"available_source", r.available_source},
           {"tensor_parallel", r.tensor_parallel},
           {"columns", vllm_budget_columns()},
           {"rows", json::array()},
           {"details", json::array()}};
  for (const VllmModelReport& m : r.models) {
    out["rows"].push_back(row(r, m));
    json tensors = json::array();
    for (const auto& t : m.pool.state.tensors) {
      tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"dtype", std::string(vllm::dtype_name(t.dtype))},
                         {"bytes", t.bytes()}});
    }
    json groups = json::array();
    for (const auto& g : m.plan.groups) {
      groups.push_back({{"kind", g.attention ? "attention" : "state"},
                        {"layers", g.layers},
                        {"padding_layers", g.padding_layers},
                        {"block_size", g.block_size},
                        {"blocks_per_request", g.blocks_per_request}});
    }
    json notes = m.dtypes.notes;
    if (!m.plan.mode_note.empty()) notes.push_back(m.plan.mode_note);
    out["details"].push_back({{"model", m.model},
                              {"source", m.source},
                              {"state_tensors", tensors},
                              {"kv_cache_groups", groups},
                              {"notes", notes}});
  }
  write_output_file(path, "--json", out.dump(2) + "\n");
}

void write_vllm_budget_csv(const std::filesystem::path& path, const VllmBudgetReport& r) {
  std::ostringstream out;
  const auto& columns = vllm_budget_columns();
  for (std::size_t i = 0; i < columns.size(); ++i) out << (i ? "," : "") << columns[i];
  out << '\n';
  for (const VllmModelReport& m : r.models) {
    const json values = row(r, m);
    for (std::size_t i = 0; i < columns.size(); ++i) out << (i ? "," : "") << csv_cell(values.at(columns[i]));
    out << '\n';
  }
  write_output_file(path, "--csv", out.str());
}

}  // namespace ssmkit::app
