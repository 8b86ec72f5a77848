#include "budget_report.hpp"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "report_output.hpp"
#include "ssmkit/model/units.hpp"
#include "svg_chart.hpp"

namespace ssmkit::app {

const char* const kConvWindowNote =
    "W = conv_kernel columns per channel (HF transformers' and EasyDeL's conv_state, what "
    "ssmkit's caches allocate); vLLM and causal-conv1d keep W-1 columns (vLLM's "
    "mamba_utils.py state shapes), given as the W-1 figures";
const char* const kBudgetSplitNote =
    "N sequences of C tokens fit when N * state_bytes_per_sequence + (N * ceil(C / page_size) "
    "+ 1) * kv_bytes_per_page <= budget: every state cache has N slots, the paged KV pool takes "
    "the rest in whole pages, and its page 0 is the reserved dummy page";

namespace {

bool beyond_limit(const ModelSpec& m, std::int64_t context) {
  return m.max_position_embeddings != 0 && context > m.max_position_embeddings;
}

std::string layer_summary(const ModelSpec& m) {
  std::ostringstream o;
  o << m.decoder_layers() << " decoder layers:";
  const char* sep = " ";
  for (const LayerKind k : {LayerKind::mamba, LayerKind::mamba2, LayerKind::linear_attention,
                            LayerKind::gated_delta_net, LayerKind::kda, LayerKind::attention,
                            LayerKind::mla}) {
    if (m.count(k) > 0) {
      o << sep << m.count(k) << ' ' << layer_kind_name(k);
      sep = ", ";
    }
  }
  std::set<std::int64_t> with_cache;
  for (std::size_t i = 0; i < m.layers.size(); ++i) with_cache.insert(m.decoder_layer_of(i));
  const auto without = m.decoder_layers() - static_cast<std::int64_t>(with_cache.size());
  if (without > 0) o << "; " << without << " without a cache";
  return o.str();
}

std::string bytes_and_per_layer(std::size_t total, std::int64_t layers) {
  if (total == 0) return "-";
  return format_bytes(total) + " (" + format_bytes(total / static_cast<std::size_t>(layers)) + ")";
}

std::string derivation(const BudgetSource& b) {
  std::ostringstream o;
  o << "floor(" << b.utilization << " * " << b.device_memory_bytes << ") - "
    << b.reserve_bytes << " = " << b.budget_bytes;
  return o.str();
}

bool several_settings(const BudgetReport& r) {
  for (const ModelBudget& mb : r.models) {
    const CacheSettings& a = mb.settings;
    const CacheSettings& b = r.settings;
    if (a.tensor_parallel != b.tensor_parallel || a.ssm_dtype != b.ssm_dtype || a.conv_dtype != b.conv_dtype ||
        a.kv_dtype != b.kv_dtype) {
      return true;
    }
  }
  return false;
}

// "tp 2, state bfloat16, conv bfloat16, kv bfloat16": what tells a row's settings apart.
std::string settings_label(const CacheSettings& s) {
  return "tp " + std::to_string(s.tensor_parallel) + ", state " + std::string(dtype_name(s.ssm_dtype)) + ", conv " +
         std::string(dtype_name(s.conv_dtype)) + ", kv " + std::string(dtype_name(s.kv_dtype));
}

// One CSV line per row and context; the JSON's "rows" carry the same keys in the same order.
nlohmann::ordered_json row_values(const BudgetReport& r, const ModelBudget& mb, const ContextCapacity& c) {
  std::size_t conv = 0, ssm = 0, linear = 0;
  for (const LayerKindMemory& k : mb.memory.kinds) {
    conv += k.conv_bytes_per_sequence;
    (k.kind == LayerKind::linear_attention ? linear : ssm) += k.state_bytes_per_sequence;
  }
  return nlohmann::ordered_json{{"model", mb.model.name},
                                {"context", c.context},
                                {"pages_per_sequence", c.pages_per_sequence},
                                {"bytes_per_sequence", c.bytes_per_sequence},
                                {"max_sequences", c.max_sequences},
                                {"state_bytes_per_sequence", mb.memory.state_bytes_per_sequence},
                                {"conv_bytes_per_sequence", conv},
                                {"ssm_state_bytes_per_sequence", ssm},
                                {"linear_attention_state_bytes_per_sequence", linear},
                                {"kv_bytes_per_token", mb.memory.kv_bytes_per_token},
                                {"kv_bytes_per_page", mb.memory.kv_bytes_per_page},
                                {"budget_bytes", r.budget.budget_bytes},
                                {"tensor_parallel", mb.settings.tensor_parallel},
                                {"beyond_max_position_embeddings", beyond_limit(mb.model, c.context)},
                                {"state_dtype", std::string(dtype_name(mb.settings.ssm_dtype))},
                                {"conv_dtype", std::string(dtype_name(mb.settings.conv_dtype))},
                                {"kv_dtype", std::string(dtype_name(mb.settings.kv_dtype))}};
}

std::vector<std::string> row_columns() {
  std::vector<std::string> names;
  const ModelBudget empty;
  const nlohmann::ordered_json row = row_values(BudgetReport{}, empty, ContextCapacity{});
  for (const auto& [key, value] : row.items()) names.push_back(key);
  return names;
}

}  // namespace

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

BudgetReport compute_budget(const std::vector<ModelSpec>& models, const BudgetSource& budget,
                            const std::vector<CacheSettings>& settings, const std::vector<std::int64_t>& contexts) {
  BudgetReport r{budget, settings.front(), contexts, {}};
  for (const ModelSpec& m : models) {
    for (const CacheSettings& s : settings) {
      ModelBudget mb{m, s, model_memory(m, s), {}};
      for (const std::int64_t c : contexts) mb.capacities.push_back(capacity_at(mb.memory, budget.budget_bytes, c));
      r.models.push_back(std::move(mb));
    }
  }
  return r;
}

void print_budget_table(std::ostream& os, const BudgetReport& r) {
  const BudgetSource& b = r.budget;
  const CacheSettings& s = r.settings;
  os << "budget        " << format_bytes(b.budget_bytes) << " (" << b.budget_bytes
     << " B) of cache memory per GPU = floor(" << b.utilization << " x "
     << format_bytes(b.device_memory_bytes) << ") - reserve " << format_bytes(b.reserve_bytes) << '\n'
     << "device        " << b.device_description;
  if (!b.device_memory_source.empty()) os << "; " << b.device_memory_source;
  const bool several = several_settings(r);
  os << '\n'
     << "parallel      tensor parallel " << (several ? std::string("per row") : std::to_string(s.tensor_parallel))
     << ": every number is one rank's share (heads, KV heads, Mamba heads and groups, GDN and "
        "KDA heads sharded as vLLM does; MLA's latent rows are whole on every rank)\n"
     << "dtypes        "
     << (several ? std::string("per row: state (SSM, GDN, KDA and lightning states), conv, KV / MLA latent")
                 : "conv " + std::string(dtype_name(s.conv_dtype)) + ", SSM / GDN / KDA state " +
                       std::string(dtype_name(s.ssm_dtype)) + ", lightning state " +
                       std::string(dtype_name(s.linear_attention_dtype)) + ", KV / MLA latent " +
                       std::string(dtype_name(s.kv_dtype)))
     << "; KV page " << s.page_size << " tokens\n"
     << "conv window   " << kConvWindowNote << '\n'
     << "split         " << kBudgetSplitNote << '\n';

  for (const ModelBudget& mb : r.models) {
    const ModelSpec& m = mb.model;
    const ModelMemory& mem = mb.memory;
    os << "\n== " << m.name << (several ? " (" + settings_label(mb.settings) + ")" : std::string()) << ": "
       << layer_summary(m) << '\n'
       << "   source: " << m.source << '\n'
       << "   " << std::left << std::setw(18) << "kind" << std::right << std::setw(7) << "layers"
       << "  " << std::left << std::setw(24) << "conv/seq (per layer)" << std::setw(26)
       << "conv W-1/seq (per layer)" << std::setw(33) << "recurrent state/seq (per layer)"
       << "KV or latent/token (per layer)" << '\n';
    for (const LayerKindMemory& k : mem.kinds) {
      os << "   " << std::left << std::setw(18) << layer_kind_name(k.kind) << std::right
         << std::setw(7) << k.layers << "  " << std::left << std::setw(24)
         << bytes_and_per_layer(k.conv_bytes_per_sequence, k.layers) << std::setw(26)
         << bytes_and_per_layer(k.conv_bytes_per_sequence_w_minus_1, k.layers) << std::setw(33)
         << bytes_and_per_layer(k.state_bytes_per_sequence, k.layers)
         << bytes_and_per_layer(k.kv_bytes_per_token, k.layers) << std::right << '\n';
    }
    os << "   state per sequence " << format_bytes(mem.state_bytes_per_sequence) << " ("
       << mem.state_bytes_per_sequence << " B)";
    if (mem.state_bytes_per_sequence_w_minus_1 != mem.state_bytes_per_sequence) {
      os << ", with W-1 conv columns " << format_bytes(mem.state_bytes_per_sequence_w_minus_1)
         << " (" << mem.state_bytes_per_sequence_w_minus_1 << " B)";
    }
    if (mem.has_attention()) {
      os << "; KV per token " << format_bytes(mem.kv_bytes_per_token) << " ("
         << mem.kv_bytes_per_token << " B), per page " << format_bytes(mem.kv_bytes_per_page);
    } else {
      os << "; no KV cache";
    }
    os << '\n'
       << "   " << std::left << std::setw(10) << "context" << std::right << std::setw(10)
       << "pages/seq" << std::setw(16) << "memory/seq" << std::setw(16) << "max sequences" << '\n';
    bool any_beyond = false;
    for (const ContextCapacity& c : mb.capacities) {
      const bool beyond = beyond_limit(m, c.context);
      any_beyond = any_beyond || beyond;
      os << "   " << std::left << std::setw(10) << (format_tokens(c.context) + (beyond ? "*" : ""))
         << std::right << std::setw(10)
         << (mem.has_attention() ? std::to_string(c.pages_per_sequence) : "-") << std::setw(16)
         << format_bytes(c.bytes_per_sequence) << std::setw(16) << c.max_sequences << '\n';
    }
    if (any_beyond) {
      os << "   * beyond the model's max_position_embeddings (" << m.max_position_embeddings
         << "): the memory such a sequence would take, past what the config declares\n";
    }
  }
}

void write_budget_json(const std::filesystem::path& path, const BudgetReport& r) {
  using json = nlohmann::ordered_json;  // the rows keep the CSV's column order
  const BudgetSource& b = r.budget;
  const CacheSettings& s = r.settings;
  json budget = {{"bytes", b.budget_bytes},
                 {"device_memory_bytes", b.device_memory_bytes},
                 {"device", b.device_description},
                 {"utilization", b.utilization},
                 {"reserve_bytes", b.reserve_bytes},
                 {"derivation", derivation(b)}};
  if (!b.gpu.empty()) {
    budget["gpu"] = b.gpu;
    budget["device_memory_source"] = b.device_memory_source;
  }
  json out = {
      {"settings",
       {{"budget", budget},
        {"tensor_parallel", s.tensor_parallel},
        {"per", "one tensor-parallel rank (one GPU)"},
        {"page_size", s.page_size},
        {"dtypes",
         {{"conv", dtype_name(s.conv_dtype)},
          {"ssm_state", dtype_name(s.ssm_dtype)},
          {"linear_attention_state", dtype_name(s.linear_attention_dtype)},
          {"gated_delta_net_state", dtype_name(s.ssm_dtype)},
          {"kda_state", dtype_name(s.ssm_dtype)},
          {"mla_latent", dtype_name(s.kv_dtype)},
          {"kv", dtype_name(s.kv_dtype)}}},
        {"conv_window", kConvWindowNote},
        {"split", kBudgetSplitNote},
        {"contexts", r.contexts}}},
      {"models", json::array()}};
  for (const ModelBudget& mb : r.models) {
    const ModelSpec& m = mb.model;
    json layers = json::object();
    json kinds = json::array();
    for (const LayerKindMemory& k : mb.memory.kinds) {
      const std::string name(layer_kind_name(k.kind));
      layers[name] = k.layers;
      const auto per = static_cast<std::size_t>(k.layers);
      kinds.push_back({{"kind", name},
                       {"layers", k.layers},
                       {"conv_bytes_per_sequence", k.conv_bytes_per_sequence},
                       {"conv_bytes_per_sequence_w_minus_1", k.conv_bytes_per_sequence_w_minus_1},
                       {"recurrent_state_bytes_per_sequence", k.state_bytes_per_sequence},
                       {"state_bytes_per_sequence", k.conv_bytes_per_sequence + k.state_bytes_per_sequence},
                       {"kv_bytes_per_token", k.kv_bytes_per_token},
                       {"conv_bytes_per_layer", k.conv_bytes_per_sequence / per},
                       {"recurrent_state_bytes_per_layer", k.state_bytes_per_sequence / per},
                       {"kv_bytes_per_token_per_layer", k.kv_bytes_per_token / per}});
    }
    json contexts = json::array();
    for (const ContextCapacity& c : mb.capacities) {
      contexts.push_back({{"context", c.context},
                          {"pages_per_sequence", c.pages_per_sequence},
                          {"bytes_per_sequence", c.bytes_per_sequence},
                          {"max_sequences", c.max_sequences},
                          {"beyond_max_position_embeddings", beyond_limit(m, c.context)}});
    }
    out["models"].push_back({{"name", m.name},
                             {"source", m.source},
                             {"tensor_parallel", mb.settings.tensor_parallel},
                             {"dtypes",
                              {{"conv", dtype_name(mb.settings.conv_dtype)},
                               {"ssm_state", dtype_name(mb.settings.ssm_dtype)},
                               {"kv", dtype_name(mb.settings.kv_dtype)}}},
                             {"num_hidden_layers", m.decoder_layers()},
                             {"layers", layers},
                             {"max_position_embeddings", m.max_position_embeddings},
                             {"state_bytes_per_sequence", mb.memory.state_bytes_per_sequence},
                             {"state_bytes_per_sequence_w_minus_1",
                              mb.memory.state_bytes_per_sequence_w_minus_1},
                             {"kv_bytes_per_token", mb.memory.kv_bytes_per_token},
                             {"kv_bytes_per_page", mb.memory.kv_bytes_per_page},
                             {"kinds", kinds},
                             {"contexts", contexts}});
  }
  out["columns"] = row_columns();
  out["rows"] = json::array();
  for (const ModelBudget& mb : r.models) {
    for (const ContextCapacity& c : mb.capacities) out["rows"].push_back(row_values(r, mb, c));
  }
  write_output_file(path, "--json", json_text(out));
}

void write_budget_csv(const std::filesystem::path& path, const BudgetReport& r) {
  std::ostringstream out;
  const std::vector<std::string> columns = row_columns();
  for (std::size_t i = 0; i < columns.size(); ++i) out << (i ? "," : "") << columns[i];
  out << '\n';
  for (const ModelBudget& mb : r.models) {
    for (const ContextCapacity& c : mb.capacities) {
      const auto values = row_values(r, mb, c);
      for (std::size_t i = 0; i < columns.size(); ++i) {
        const auto& v = values.at(columns[i]);
        out << (i ? "," : "") << csv_field(v.is_string() ? v.get<std::string>() : v.dump());
      }
      out << '\n';
    }
  }
  write_output_file(path, "--csv", out.str());
}

void write_budget_svg(const std::filesystem::path& path, const BudgetReport& r) {
  const bool several = several_settings(r);
  // Each setting's distinct values, in row order: "tp 1,2; state float32,bfloat16; ...".
  std::vector<std::string> tp, state, conv, kv;
  const auto note = [](std::vector<std::string>& seen, const std::string& v) {
    if (std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(v);
  };
  for (const ModelBudget& mb : r.models) {
    note(tp, std::to_string(mb.settings.tensor_parallel));
    note(state, std::string(dtype_name(mb.settings.ssm_dtype)));
    note(conv, std::string(dtype_name(mb.settings.conv_dtype)));
    note(kv, std::string(dtype_name(mb.settings.kv_dtype)));
  }
  const auto joined = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
    return out;
  };
  const std::string settings = "tp " + joined(tp) + "; state " + joined(state) + ", conv " + joined(conv) +
                               ", kv " + joined(kv);
  LineChart chart;
  chart.title = "Max concurrent sequences, " + (r.budget.gpu.empty() ? r.budget.device_description : r.budget.gpu) +
                ", budget " + format_bytes(r.budget.budget_bytes) + " per rank; " + settings;
  chart.x = {"context length, tokens (log scale)",
             [](double v) { return format_tokens(static_cast<std::int64_t>(v)); }};
  chart.y = {"sequences that fit (log scale)", [](double v) { return format_number("%g", v); }};
  chart.hollow_note = "open circle: past max_position_embeddings";
  for (const ModelBudget& mb : r.models) {
    ChartSeries series{mb.model.name + (several ? " (" + settings_label(mb.settings) + ")" : std::string()), {}};
    for (const ContextCapacity& c : mb.capacities) {
      series.points.emplace_back(static_cast<double>(c.context), static_cast<double>(c.max_sequences));
      series.hollow.push_back(beyond_limit(mb.model, c.context));
    }
    chart.series.push_back(std::move(series));
  }
  write_output_file(path, "--svg", render_svg(chart));
}

}  // namespace ssmkit::app
