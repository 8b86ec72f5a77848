#include "budget_vllm_report.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "budget_report.hpp"
#include "report_output.hpp"
#include "ssmkit/model/units.hpp"
#include "svg_chart.hpp"

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

// "kv bfloat16, conv bfloat16, ssm float32": the cache dtypes that tell rows apart.
std::string row_dtypes(const VllmModelReport& m) {
  return "kv " + std::string(vllm::dtype_name(m.dtypes.kv)) + ", conv " + std::string(vllm::dtype_name(m.dtypes.conv)) +
         ", ssm " + std::string(vllm::dtype_name(m.dtypes.ssm));
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
              {"tensor_parallel", m.tensor_parallel},
              {"speculative_method", m.speculative_method},
              {"mtp_layers", m.mtp_layers},
              {"parameters", m.weights.parameters},
              {"weight_format", m.weights.format},
              {"weight_bytes_per_rank", m.weights.bytes_per_rank},
              {"activation_reserve_bytes", m.activation_reserve},
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
              {"largest_max_model_len", p.largest_max_model_len},
              {"starts_from_tensor_parallel", m.starts_from_tp}};
}

// The weights by kind, largest first, all layers together: "moe experts 77.31B (sharded)".
std::vector<std::string> part_summary(const std::vector<ParameterPart>& parts) {
  std::vector<std::pair<std::string, std::int64_t>> by_name;
  for (const auto& p : parts) {
    auto it = std::find_if(by_name.begin(), by_name.end(), [&](const auto& e) { return e.first == p.name; });
    if (it == by_name.end()) by_name.emplace_back(p.name, p.count);
    else it->second += p.count;
  }
  std::stable_sort(by_name.begin(), by_name.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
  std::vector<std::string> out;
  for (const auto& [name, count] : by_name) out.push_back(name + " " + std::to_string(count));
  return out;
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
     << "memory        " << r.memory_source << '\n'
     << "parallel      every number is one tensor-parallel rank's\n"
     << "conv window   W-1 columns per channel (vLLM's conv state), plus one per speculative token where "
        "the model class passes them on\n";
  for (const VllmModelReport& m : r.models) {
    const PoolPlan& p = m.plan;
    const vllm::PoolSettings& s = m.settings;
    os << "\n== " << m.model << ", tensor parallel " << m.tensor_parallel
       << (m.speculative_method.empty() ? std::string() : ", speculative " + m.speculative_method) << '\n'
       << "   source        " << m.source << '\n';
    if (m.weights.counted) {
      os << "   weights       " << format_number("%.3f", static_cast<double>(m.weights.parameters) / 1e9)
         << "B parameters (" << m.weights.parameters << ")"
         << (m.weights.mtp_parameters > 0
                 ? ", of which " + std::to_string(m.weights.mtp_parameters) + " in the MTP layers"
                 : std::string())
         << ", " << m.weights.format << ": " << format_bytes(m.weights.bytes_per_rank) << " ("
         << m.weights.bytes_per_rank << " B) per rank\n";
      for (const std::string& part : part_summary(m.weights.parts)) os << "                 " << part << '\n';
    }
    os << "   available     " << format_bytes(s.available_bytes) << " (" << s.available_bytes
       << " B) of KV cache memory per rank = " << m.available_source << '\n';
    if (m.weights.counted && m.activation_reserve == 0) {
      os << "   note          the activation peak, CUDA graphs and non-torch memory of vLLM's profile are not "
            "subtracted (--activation-reserve SIZE, or --kv-memory from a startup log)\n";
    }
    if (m.mtp_layers > 0) {
      os << "   mtp           " << m.mtp_layers << " MTP layer" << (m.mtp_layers == 1 ? "" : "s")
         << " of full attention in the pool, " << s.num_speculative_tokens << " speculative token"
         << (s.num_speculative_tokens == 1 ? "" : "s") << '\n';
    }
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
    if (!p.starts && m.weights.counted) {
      os << "   hint          "
         << (m.starts_from_tp > 0 ? "starts from --tp " + std::to_string(m.starts_from_tp) + " with the same flags"
                                  : std::string("does not start at any doubling of this degree up to --tp 64"))
         << '\n';
    }
  }
}

void write_vllm_budget_json(const std::filesystem::path& path, const VllmBudgetReport& r) {
  json out{{"engine", "vllm"},
           {"vllm_version", std::string(vllm::era_name(r.era))},
           {"rules", std::string(vllm::era_description(r.era))},
           {"memory_source", r.memory_source},
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
    json weights = json::array();
    for (const auto& part : m.weights.parts) {
      weights.push_back({{"name", part.name},
                         {"parameters", part.count},
                         {"sharded", part.sharded},
                         {"quantizable", part.quantizable}});
    }
    json curve = json::array();
    for (const auto& c : m.curve) {
      curve.push_back({{"max_model_len", c.context},
                       {"max_concurrency", c.max_concurrency},
                       {"beyond_max_position_embeddings", c.beyond_limit}});
    }
    json notes = m.dtypes.notes;
    if (!m.plan.mode_note.empty()) notes.push_back(m.plan.mode_note);
    out["details"].push_back({{"model", m.model},
                              {"source", m.source},
                              {"state_tensors", tensors},
                              {"kv_cache_groups", groups},
                              {"available_source", m.available_source},
                              {"weights", weights},
                              {"max_concurrency_by_context", curve},
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

void write_vllm_budget_svg(const std::filesystem::path& path, const VllmBudgetReport& r) {
  LineChart chart;
  // Each dtype's distinct values, in row order: "kv bfloat16, conv bfloat16, ssm float32,bfloat16".
  std::vector<std::string> kv, conv, ssm;
  std::set<std::string> dtypes;
  const auto note = [](std::vector<std::string>& seen, vllm::CacheDType d) {
    const std::string name(vllm::dtype_name(d));
    if (std::find(seen.begin(), seen.end(), name) == seen.end()) seen.push_back(name);
  };
  for (const VllmModelReport& m : r.models) {
    dtypes.insert(row_dtypes(m));
    note(kv, m.dtypes.kv);
    note(conv, m.dtypes.conv);
    note(ssm, m.dtypes.ssm);
  }
  const auto joined = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
    return out;
  };
  const std::string dtype_list = "kv " + joined(kv) + ", conv " + joined(conv) + ", ssm " + joined(ssm);
  chart.title = "vLLM " + std::string(vllm::era_name(r.era)) + " max concurrency, " +
                (r.device.empty() ? r.budget : r.device + ", " + r.budget) + "; " + dtype_list;
  chart.x = {"max_model_len, tokens (log scale)", [](double v) { return format_tokens(static_cast<std::int64_t>(v)); }};
  chart.y = {"maximum concurrency (requests of max_model_len, log scale)",
             [](double v) { return format_number("%g", v); }};
  chart.hollow_note = "open circle: past max_position_embeddings";
  for (const VllmModelReport& m : r.models) {
    ChartSeries series{m.model + " tp" + std::to_string(m.tensor_parallel) +
                           (r.models.size() > 1 && dtypes.size() > 1 ? " " + row_dtypes(m) : std::string()),
                       {}, {}};
    for (const VllmCurvePoint& c : m.curve) {
      series.points.emplace_back(static_cast<double>(c.context), c.max_concurrency);
      series.hollow.push_back(c.beyond_limit);
    }
    chart.series.push_back(std::move(series));
  }
  write_output_file(path, "--svg", render_svg(chart));
}

}  // namespace ssmkit::app
