#include "drift_report.hpp"

#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "report_output.hpp"
#include "svg_chart.hpp"

namespace ssmkit::app {
namespace {

const char* const kErrorNote =
    "errors against the float64 reference on the same inputs: relative L2 = ||x - x64|| / "
    "||x64|| and max abs = max |x - x64| over every state element (or step output) of the "
    "batch, at the step named";

std::string growth_rule() {
  return "bounded: the state's relative error grew with exponent < " +
         format_number("%.2f", kBoundedGrowthExponent) +
         " (error ~ steps^exponent) between the last two checkpoints; growing otherwise";
}

std::string sci(double v) { return std::isfinite(v) ? format_number("%.3e", v) : "inf"; }

std::string verdict_line(const DriftLane& lane, const std::vector<std::int64_t>& checkpoints) {
  std::string s = lane.verdict();
  if (lane.growth_exponent && lane.finite) {
    s += " (exponent " + format_number("%.2f", *lane.growth_exponent) + " from step " +
         std::to_string(checkpoints[checkpoints.size() - 2]) + " to " +
         std::to_string(checkpoints.back()) + ")";
  }
  return s;
}

std::string lane_name(LayerKind kind, const DriftLane& lane) {
  return std::string(layer_kind_name(kind)) + " " + std::string(dtype_name(lane.dtype)) +
         (lane.rounding == StateRounding::stochastic ? " (stochastic)" : "");
}

nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

void print_drift_table(std::ostream& os, const DriftReport& r) {
  const auto& o = r.options;
  os << "model       " << r.model << " (" << r.model_source << ")\n"
     << "backend     " << r.backend << " (" << r.backend_device << "); reference: "
     << r.reference_device << ", float64 state\n"
     << "inputs      " << r.inputs;
  if (r.prefill > 0) os << "; the state after a " << r.prefill << "-token exact (float64) prefill";
  os << "\nsteps       " << o.checkpoints.back() << " decode steps; checkpoints";
  for (const auto c : o.checkpoints) os << ' ' << c;
  os << "\nrounding    " << rounding_name(o.rounding)
     << " requested for 16-bit states; float32 states round to nearest\n"
     << "errors      " << kErrorNote << '\n'
     << "verdict     " << growth_rule() << '\n';
  for (const DriftLayerResult& l : r.layers) {
    const double memory = l.slowest_decay < 1 ? 1.0 / (1.0 - l.slowest_decay) : INFINITY;
    os << "\n== " << layer_kind_name(l.kind) << ": " << l.description << '\n'
       << "   " << l.state_elements << " state elements; float64 state rms at the end "
       << sci(l.reference_state_rms) << "; slowest per-step decay "
       << format_number("%.6f", l.slowest_decay) << " (an error is forgotten over ~"
       << (std::isfinite(memory) ? format_number("%.0f", memory) : std::string("inf"))
       << " steps)\n";
    os << "   " << std::left << std::setw(22) << "state dtype" << std::right << std::setw(10)
       << "step" << std::setw(15) << "state rel L2" << std::setw(15) << "state max abs"
       << std::setw(15) << "out rel L2" << std::setw(15) << "out max abs" << '\n';
    for (const DriftLane& lane : l.lanes) {
      const std::string name = std::string(dtype_name(lane.dtype)) +
                               (lane.rounding == StateRounding::stochastic ? " stochastic" : "");
      for (const DriftPoint& p : lane.points) {
        if (!p.checkpoint) continue;
        os << "   " << std::left << std::setw(22) << name << std::right << std::setw(10) << p.step
           << std::setw(15) << sci(p.error.state_rel_l2) << std::setw(15)
           << sci(p.error.state_max_abs) << std::setw(15) << sci(p.error.out_rel_l2)
           << std::setw(15) << sci(p.error.out_max_abs) << '\n';
      }
      if (!lane.finite) os << "   " << name << ": the state overflowed the dtype's range\n";
    }
    for (const DriftLane& lane : l.lanes) {
      os << "   " << std::left << std::setw(10) << dtype_name(lane.dtype) << std::right
         << verdict_line(lane, o.checkpoints) << "; " << lane.storage_path(r.backend) << '\n';
    }
  }
}

void write_drift_json(const std::filesystem::path& path, const DriftReport& r) {
  using nlohmann::json;
  json dtypes = json::array();
  for (const DType d : r.options.state_dtypes) dtypes.push_back(dtype_name(d));
  json out = {{"model", r.model},
              {"model_source", r.model_source},
              {"backend", r.backend},
              {"backend_device", r.backend_device},
              {"reference", r.reference_device + ", float64 state"},
              {"inputs", r.inputs},
              {"prefill_tokens", r.prefill},
              {"checkpoints", r.options.checkpoints},
              {"state_dtypes", dtypes},
              {"rounding", rounding_name(r.options.rounding)},
              {"rounding_seed", r.options.seed},
              {"errors", kErrorNote},
              {"verdict_rule", growth_rule()},
              {"layers", json::array()}};
  for (const DriftLayerResult& l : r.layers) {
    json lanes = json::array();
    for (const DriftLane& lane : l.lanes) {
      json points = json::array();
      for (const DriftPoint& p : lane.points) {
        points.push_back({{"step", p.step},
                          {"checkpoint", p.checkpoint},
                          {"state_rel_l2", number(p.error.state_rel_l2)},
                          {"state_max_abs", number(p.error.state_max_abs)},
                          {"out_rel_l2", number(p.error.out_rel_l2)},
                          {"out_max_abs", number(p.error.out_max_abs)}});
      }
      json lane_json = {{"state_dtype", dtype_name(lane.dtype)},
                        {"rounding", rounding_name(lane.rounding)},
                        {"storage", lane.storage_path(r.backend)},
                        {"host_rounded_values", lane.host_rounded_values},
                        {"stored_values", lane.stored_values},
                        {"verdict", lane.verdict()},
                        {"growth_exponent", lane.growth_exponent ? number(*lane.growth_exponent) : json(nullptr)},
                        {"points", points}};
      lane_json["kernel_state_dtype"] =
          lane.kernel_state_dtype ? json(dtype_name(*lane.kernel_state_dtype)) : json(nullptr);
      lanes.push_back(lane_json);
    }
    out["layers"].push_back({{"kind", layer_kind_name(l.kind)},
                             {"description", l.description},
                             {"state_elements", l.state_elements},
                             {"slowest_decay", l.slowest_decay},
                             {"reference_state_rms", number(l.reference_state_rms)},
                             {"lanes", lanes}});
  }
  write_output_file(path, "--json", out.dump(2) + "\n");
}

void write_drift_csv(const std::filesystem::path& path, const DriftReport& r) {
  std::ostringstream out;
  out << "kind,state_dtype,rounding,step,checkpoint,state_rel_l2,state_max_abs,out_rel_l2,"
         "out_max_abs,verdict\n";
  out << std::setprecision(17);
  for (const DriftLayerResult& l : r.layers) {
    for (const DriftLane& lane : l.lanes) {
      for (const DriftPoint& p : lane.points) {
        out << layer_kind_name(l.kind) << ',' << dtype_name(lane.dtype) << ','
            << rounding_name(lane.rounding) << ',' << p.step << ','
            << (p.checkpoint ? "true" : "false") << ',' << p.error.state_rel_l2 << ','
            << p.error.state_max_abs << ',' << p.error.out_rel_l2 << ',' << p.error.out_max_abs
            << ',' << lane.verdict() << '\n';
      }
    }
  }
  write_output_file(path, "--csv", out.str());
}

void write_drift_svg(const std::filesystem::path& path, const DriftReport& r) {
  LineChart chart;
  chart.title = "State error against float64, " + r.model + " on " + r.backend;
  chart.x = {"decode steps (log scale)",
             [](double v) { return format_number("%.0f", v); }};
  chart.y = {"relative L2 error of the state (log scale)",
             [](double v) { return format_number("%.0e", v); }};
  for (const DriftLayerResult& l : r.layers) {
    for (const DriftLane& lane : l.lanes) {
      ChartSeries s{lane_name(l.kind, lane), {}};
      for (const DriftPoint& p : lane.points) {
        s.points.emplace_back(static_cast<double>(p.step), p.error.state_rel_l2);
      }
      chart.series.push_back(std::move(s));
    }
  }
  write_output_file(path, "--svg", render_svg(chart));
}

}  // namespace ssmkit::app
