#include "replay_report.hpp"

#include <cstdio>
#include <iomanip>
#include <sstream>
#include <vector>

#include "ssmkit/model/units.hpp"

namespace ssmkit::app {
namespace {

using nlohmann::ordered_json;

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 10.0 ? "%.3f s" : "%.1f s", s);
  return buf;
}

std::string delays(const DelaySummary& d) {
  return "mean " + seconds(d.mean_s) + ", p50 " + seconds(d.p50_s) + ", p99 " + seconds(d.p99_s) +
         ", max " + seconds(d.max_s);
}

ordered_json delay_json(const DelaySummary& d) {
  return {{"count", d.count}, {"mean_s", d.mean_s}, {"p50_s", d.p50_s}, {"p99_s", d.p99_s},
          {"max_s", d.max_s}};
}

std::string workload_text(const Scenario& s) {
  if (s.workload.trace) {
    const TraceWorkload& t = *s.workload.trace;
    std::ostringstream os;
    os << "trace " << t.path.string();
    if (t.selection.start_s || t.selection.end_s) {
      os << " [" << t.selection.start_s.value_or(0.0) << " s, ";
      if (t.selection.end_s) os << *t.selection.end_s << " s)"; else os << "end)";
    }
    if (t.selection.limit) os << ", first " << *t.selection.limit;
    if (t.speedup != 1.0) os << ", " << t.speedup << "x faster";
    return os.str();
  }
  const SyntheticWorkload& w = *s.workload.synthetic;
  std::ostringstream os;
  os << "synthetic, seed " << w.seed << ", " << w.requests << " requests at " << w.arrival_rate
     << "/s";
  return os.str();
}

std::string layers_text(const ModelSpec& m) {
  std::string text;
  for (const LayerKind kind : kLayerKinds) {
    if (const auto n = m.count(kind); n > 0) {
      text += (text.empty() ? "" : " + ") + std::to_string(n) + " " + std::string(layer_kind_name(kind));
    }
  }
  return text;
}

std::string cache_text(const ReplayCacheGeometry& g) {
  std::string text = std::to_string(g.state_slots) + " state slots";
  if (g.state_bytes_per_sequence > 0) text += " x " + format_bytes(g.state_bytes_per_sequence);
  if (g.page_size > 0) {
    text += "; " + std::to_string(g.usable_pages) + " KV pages of " + std::to_string(g.page_size) +
            " tokens x " + format_bytes(g.bytes_per_page) + ", max_seq_len " +
            std::to_string(g.max_seq_len);
  } else {
    text += "; no attention or MLA layers (no KV pages)";
  }
  return text + "; " + format_bytes(g.bytes_allocated) + " in all";
}

}  // namespace

bool all_checks_passed(const ScenarioReplay& replay) {
  for (const CheckResult& c : replay.checks) {
    if (!c.passed) return false;
  }
  return true;
}

void print_replay(std::ostream& os, const ScenarioReplay& r) {
  const Scenario& s = r.scenario;
  const ReplayTotals& t = r.result.totals;
  const SchedulerConfig& sched = s.scheduler;
  std::ostringstream step;
  step << sched.step_time.base_s * 1e3 << " ms + " << sched.step_time.per_token_s * 1e6
       << " us/token";
  const std::vector<std::pair<std::string, std::string>> setup = {
      {"scenario", s.name + " (" + s.source + ")"},
      {"model", r.model.name + ": " + layers_text(r.model) + " (" + r.model.source + ")"},
      {"memory", s.cache.memory.describe() + ", tensor_parallel " +
                     std::to_string(s.cache.settings.tensor_parallel) + " (one rank)"},
      {"cache", cache_text(r.result.geometry)},
      {"workload", workload_text(s)},
      {"scheduler", "token budget " + std::to_string(sched.token_budget) + ", max running " +
                        std::to_string(sched.max_running == 0 ? r.result.geometry.state_slots
                                                              : sched.max_running) +
                        ", step time " +
                        (t.kernels ? std::string("measured on the kernels")
                                   : step.str() + " (a model)")},
  };
  for (const auto& [k, v] : setup) os << std::left << std::setw(11) << k << v << '\n';
  os << (t.kernels ? "kernels: " + t.kernels->executor : std::string(kAccountingOnly)) << "\n\n";

  const auto pct = [](std::int64_t part, std::int64_t whole) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " (%.1f%%)", whole > 0 ? 100.0 * part / whole : 0.0);
    return std::string(buf);
  };
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"requests finished", std::to_string(t.finished) + " of " + std::to_string(t.requests) +
                                ", " + std::to_string(t.rejected) + " rejected (too long)"},
      {"steps", std::to_string(t.steps)},
      {"simulated time", seconds(t.simulated_s)},
      {"prefill tokens", std::to_string(t.prefill_tokens) + ", " +
                             std::to_string(t.recomputed_tokens) + " of them recomputed"},
      {"decode tokens", std::to_string(t.decode_tokens)},
      {"generated tokens", std::to_string(t.generated_tokens)},
      {"preemptions", std::to_string(t.preemptions) + " (" + std::to_string(t.preempted_requests) +
                          " requests)"},
      {"peak running", std::to_string(t.peak_running)},
      {"peak queued", std::to_string(t.peak_queued)},
      {"peak slots", std::to_string(t.peak_slots) + " of " +
                         std::to_string(r.result.geometry.state_slots)},
      {"peak pages", r.result.geometry.page_size == 0
                         ? std::string("-")
                         : std::to_string(t.peak_pages) + " of " +
                               std::to_string(r.result.geometry.usable_pages) +
                               pct(t.peak_pages, r.result.geometry.usable_pages)},
      {"peak memory", format_bytes(t.peak_memory) + " of " + format_bytes(r.memory_budget)},
      {"queueing delay", delays(t.queue_delay)},
      {"time to 1st token", delays(t.time_to_first_token)},
      {"wall time", seconds(r.wall_s)},
  };
  for (const auto& [k, v] : rows) os << std::left << std::setw(19) << k << v << '\n';
  if (const auto& k = t.kernels) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%.0f all, %.0f prefill, %.0f decode", k->tokens_per_s,
                  k->prefill_tokens_per_s, k->decode_tokens_per_s);
    os << std::left << std::setw(19) << "kernel time"
       << seconds(k->seconds) + " (prefill " + seconds(k->prefill_s) + ", decode " +
              seconds(k->decode_s) + ")"
       << '\n' << std::setw(19) << "tokens/s (kernels)" << buf << '\n'
       << std::setw(19) << "device-only steps"
       << std::to_string(k->gated_steps) + " of " + std::to_string(k->steps) +
              " (behind the launch gate; the rest include host launch time)"
       << '\n';
  }
  if (!r.checks.empty()) os << '\n';
  for (const CheckResult& c : r.checks) {
    os << (c.passed ? "PASS " : "FAIL ") << c.name << ": " << c.detail << '\n';
  }
}

namespace {

// The counts both the replay JSON's totals and a sweep point's flat metrics carry.
ordered_json total_counts(const ReplayTotals& t) {
  ordered_json counts = {{"requests", t.requests},
          {"finished", t.finished},
          {"rejected", t.rejected},
          {"steps", t.steps},
          {"simulated_s", t.simulated_s},
          {"prefill_tokens", t.prefill_tokens},
          {"recomputed_tokens", t.recomputed_tokens},
          {"decode_tokens", t.decode_tokens},
          {"generated_tokens", t.generated_tokens},
          {"preemptions", t.preemptions},
          {"preempted_requests", t.preempted_requests},
          {"peak_running", t.peak_running},
          {"peak_queued", t.peak_queued},
          {"peak_slots", t.peak_slots},
          {"peak_pages", t.peak_pages},
          {"peak_memory_bytes", t.peak_memory}};
  if (const auto& k = t.kernels) {
    counts["kernel_s"] = k->seconds;
    counts["kernel_prefill_s"] = k->prefill_s;
    counts["kernel_decode_s"] = k->decode_s;
    counts["kernel_steps"] = k->steps;
    counts["kernel_gated_steps"] = k->gated_steps;
    counts["tokens_per_s"] = k->tokens_per_s;
    counts["prefill_tokens_per_s"] = k->prefill_tokens_per_s;
    counts["decode_tokens_per_s"] = k->decode_tokens_per_s;
  }
  return counts;
}

}  // namespace

ordered_json replay_metrics(const ScenarioReplay& r) {
  const ReplayTotals& t = r.result.totals;
  ordered_json m = total_counts(t);
  m["queue_delay_mean_s"] = t.queue_delay.mean_s;
  m["queue_delay_p50_s"] = t.queue_delay.p50_s;
  m["queue_delay_p99_s"] = t.queue_delay.p99_s;
  m["ttft_p50_s"] = t.time_to_first_token.p50_s;
  m["ttft_p99_s"] = t.time_to_first_token.p99_s;
  m["state_slots"] = r.result.geometry.state_slots;
  m["usable_pages"] = r.result.geometry.usable_pages;
  m["wall_s"] = r.wall_s;
  return m;
}

ordered_json replay_json(const ScenarioReplay& r, bool with_timeline) {
  const Scenario& s = r.scenario;
  const ReplayCacheGeometry& g = r.result.geometry;
  const ReplayTotals& t = r.result.totals;
  ordered_json workload;
  if (s.workload.trace) {
    const TraceWorkload& tw = *s.workload.trace;
    workload = {{"kind", "trace"},
                {"path", tw.path.string()},
                {"start_s", tw.selection.start_s ? ordered_json(*tw.selection.start_s) : nullptr},
                {"end_s", tw.selection.end_s ? ordered_json(*tw.selection.end_s) : nullptr},
                {"limit", tw.selection.limit ? ordered_json(*tw.selection.limit) : nullptr},
                {"speedup", tw.speedup}};
  } else {
    const SyntheticWorkload& w = *s.workload.synthetic;
    workload = {{"kind", "synthetic"}, {"seed", w.seed}, {"requests", w.requests},
                {"arrival_rate", std::isfinite(w.arrival_rate) ? ordered_json(w.arrival_rate)
                                                               : ordered_json("inf")}};
  }
  ordered_json checks = ordered_json::array();
  for (const CheckResult& c : r.checks) {
    checks.push_back({{"name", c.name}, {"passed", c.passed}, {"detail", c.detail}});
  }
  ordered_json doc = {
      {"tool", "ssmkit replay"},
      {"accounting_only", !t.kernels},
      {"note", t.kernels ? "kernels: " + t.kernels->executor : std::string(kAccountingOnly)},
      {"scenario",
       {{"name", s.name},
        {"source", s.source},
        {"model", s.model},
        {"backend", s.backend},
        {"memory_budget_bytes", r.memory_budget},
        {"tensor_parallel", s.cache.settings.tensor_parallel},
        {"workload", workload},
        {"scheduler",
         {{"token_budget", s.scheduler.token_budget},
          {"max_running", s.scheduler.max_running == 0 ? g.state_slots : s.scheduler.max_running},
          {"step_time_base_s", s.scheduler.step_time.base_s},
          {"step_time_per_token_s", s.scheduler.step_time.per_token_s}}}}},
      {"model", {{"name", r.model.name}, {"source", r.model.source}, {"layers", layers_text(r.model)}}},
      {"cache",
       {{"state_slots", g.state_slots},
        {"state_bytes_per_sequence", g.state_bytes_per_sequence},
        {"page_size", g.page_size},
        {"usable_pages", g.usable_pages},
        {"bytes_per_page", g.bytes_per_page},
        {"max_seq_len", g.max_seq_len},
        {"bytes_allocated", g.bytes_allocated}}},
      {"totals", total_counts(t)},
      {"checks", checks},
      {"wall_s", r.wall_s}};
  doc["totals"]["queue_delay"] = delay_json(t.queue_delay);
  doc["totals"]["time_to_first_token"] = delay_json(t.time_to_first_token);
  if (with_timeline) {
    ordered_json timeline = ordered_json::array();
    for (const TimelineSample& x : r.result.timeline) {
      timeline.push_back({{"time_s", x.time_s},
                          {"step", x.step},
                          {"running", x.running},
                          {"queued", x.queued},
                          {"pages_in_use", x.pages_in_use},
                          {"slots_in_use", x.slots_in_use},
                          {"memory_in_use_bytes", x.memory_in_use},
                          {"finished", x.finished},
                          {"preemptions", x.preemptions}});
    }
    doc["timeline"] = timeline;
  }
  return doc;
}

}  // namespace ssmkit::app
