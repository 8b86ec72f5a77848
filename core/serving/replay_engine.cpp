#include "ssmkit/serving/replay_engine.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "ssmkit/error.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit {
namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }


ReplayCacheGeometry geometry_of(const HybridCache& cache) {
  const CacheUsage usage = cache.usage();
  ReplayCacheGeometry g;
  g.state_slots = cache.config().max_requests;
  g.state_bytes_per_sequence = usage.bytes_per_sequence;
  g.bytes_allocated = usage.bytes_allocated;
  if (const PagedKVCacheConfig* kv = cache.config().kv_pool()) {
    g.page_size = kv->page_size;
    g.usable_pages = kv->num_pages() - 1;  // page 0 is the dummy page
    g.bytes_per_page = kv->bytes_per_page();
    g.max_seq_len = kv->max_seq_len;
  }
  return g;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::logic_error("ReplayEngine: " + what);
}

}  // namespace

ReplayEngine::ReplayEngine(HybridCache& cache, SchedulerConfig scheduler,
                           std::vector<RequestSpec> requests, StepExecutor* executor)
    : cache_(cache), scheduler_(scheduler), executor_(executor), geometry_(geometry_of(cache)) {
  const std::string where = "scheduler";
  if (scheduler_.token_budget < 1) {
    throw InputError(where, "token_budget",
                     "a positive number of tokens, got " + std::to_string(scheduler_.token_budget));
  }
  if (scheduler_.max_running < 0) {
    throw InputError(where, "max_running",
                     "a positive count (0: one per state slot), got " +
                         std::to_string(scheduler_.max_running));
  }
  if (scheduler_.max_running == 0) scheduler_.max_running = geometry_.state_slots;
  const StepTimeModel& t = scheduler_.step_time;
  if (!(t.base_s >= 0.0 && t.per_token_s >= 0.0 && std::isfinite(t.base_s) &&
        std::isfinite(t.per_token_s) && t.base_s + t.per_token_s > 0.0)) {
    throw InputError(where, "step_time",
                     "finite non-negative base and per-token times, not both zero");
  }
  if (cache_.slots().slots_in_use() != 0) fail("the cache must start empty");
  if (!std::is_sorted(requests.begin(), requests.end(),
                      [](const RequestSpec& a, const RequestSpec& b) {
                        return a.arrival_s < b.arrival_s;
                      })) {
    fail("requests must be ordered by arrival");
  }
  requests_.reserve(requests.size());
  for (const RequestSpec& spec : requests) {
    // A trace checks this per row; a synthetic distribution without a max can draw more.
    if (spec.prompt_tokens > limits::kMaxTokensPerRequest - std::max<std::int64_t>(spec.output_tokens, 0)) {
      throw InputError(spec.source_line > 0 ? "trace line " + std::to_string(spec.source_line)
                                            : "workload request " + std::to_string(requests_.size()),
                       "prompt + output tokens",
                       "at most limits::kMaxTokensPerRequest = " +
                           std::to_string(limits::kMaxTokensPerRequest) + ", got " +
                           std::to_string(spec.prompt_tokens) + " + " + std::to_string(spec.output_tokens));
    }
    if (spec.prompt_tokens < 1 || spec.output_tokens < 0 || !(spec.arrival_s >= 0.0)) {
      fail("a request needs a prompt, a non-negative output and arrival");
    }
    requests_.push_back(Live{spec});
  }
  totals_.requests = static_cast<std::int64_t>(requests_.size());
  if (executor_ != nullptr) totals_.kernels = KernelTotals{executor_->description()};
}

bool ReplayEngine::can_ever_run(const RequestSpec& spec) const {
  std::int64_t longest = 0;
  if (__builtin_add_overflow(spec.prompt_tokens, std::max<std::int64_t>(spec.output_tokens, 1) - 1, &longest)) {
    return false;
  }
  if (scheduler_.max_seq_len > 0 && longest > scheduler_.max_seq_len) return false;
  if (geometry_.page_size == 0) return true;
  return longest <= geometry_.max_seq_len &&
         ceil_div(longest, geometry_.page_size) <= geometry_.usable_pages;
}

bool ReplayEngine::done() const {
  return next_arrival_ == totals_.requests && queue_.empty() && running_.empty();
}

void ReplayEngine::take_arrivals() {
  while (next_arrival_ < totals_.requests && requests_[next_arrival_].spec.arrival_s <= now_) {
    const auto id = static_cast<RequestId>(next_arrival_++);
    if (can_ever_run(requests_[id].spec)) {
      queue_.push_back(id);
    } else {
      ++totals_.rejected;
    }
  }
}

void ReplayEngine::preempt(RequestId id) {
  Live& r = requests_[id];
  cache_.release(id);
  r.computed = 0;
  if (!r.preempted_once) ++totals_.preempted_requests;
  r.preempted_once = true;
  ++totals_.preemptions;
  queue_.push_front(id);
}

void ReplayEngine::finish_if_done() {
  if (!done() || summarized_) return;
  summarized_ = true;
  totals_.simulated_s = now_;
  totals_.queue_delay = summarize_delays(queue_delays_);
  totals_.time_to_first_token = summarize_delays(first_token_delays_);
  if (KernelTotals* k = totals_.kernels ? &*totals_.kernels : nullptr) {
    auto rate = [](std::int64_t tokens, double seconds) {
      return seconds > 0.0 ? static_cast<double>(tokens) / seconds : 0.0;
    };
    k->tokens_per_s = rate(totals_.prefill_tokens + totals_.decode_tokens, k->seconds);
    k->prefill_tokens_per_s = rate(totals_.prefill_tokens, k->prefill_s);
    k->decode_tokens_per_s = rate(totals_.decode_tokens, k->decode_s);
  }
}

std::int64_t ReplayEngine::decode_tokens(const Live& r, std::int64_t tokens) const {
  // Positions [computed, computed + tokens): below the high-water mark they are recomputed,
  // past the prompt and the high-water mark they feed a fresh token (decode).
  const std::int64_t first = r.computed, end = r.computed + tokens;
  const std::int64_t fresh_from = std::max(r.spec.prompt_tokens, r.high_water);
  return std::max<std::int64_t>(0, end - std::max(first, fresh_from));
}

StepWork ReplayEngine::work_of(const std::vector<Scheduled>& scheduled) const {
  StepWork work;
  work.step = totals_.steps;
  for (const Scheduled& s : scheduled) {
    const Live& r = requests_[s.id];
    work.requests.push_back({s.id, cache_.slot_of(s.id), r.computed, s.tokens,
                             decode_tokens(r, s.tokens) != s.tokens});
  }
  return work;
}

double ReplayEngine::run_step(const std::vector<Scheduled>& scheduled, std::int64_t tokens) {
  if (executor_ == nullptr) return scheduler_.step_time.duration(tokens);
  const StepTiming t = executor_->run(work_of(scheduled), cache_);
  KernelTotals& k = *totals_.kernels;
  k.seconds += t.seconds;
  k.prefill_s += t.prefill_s;
  k.decode_s += t.decode_s;
  ++k.steps;
  if (t.gated) ++k.gated_steps;
  return t.seconds;
}

bool ReplayEngine::step() {
  take_arrivals();
  if (done()) {
    finish_if_done();
    return false;
  }
  if (running_.empty() && queue_.empty()) {
    now_ = std::max(now_, requests_[next_arrival_].spec.arrival_s);
    return false;
  }

  std::int64_t budget = scheduler_.token_budget;
  std::vector<Scheduled> scheduled;
  bool preempted = false;
  for (std::size_t i = 0; i < running_.size() && budget > 0;) {
    const RequestId id = running_[i];
    const std::int64_t tokens = std::min(requests_[id].remaining(), budget);
    const CacheStatus status = cache_.extend(id, tokens);
    if (status == CacheStatus::ok) {
      scheduled.push_back({id, tokens});
      budget -= tokens;
      ++i;
      continue;
    }
    if (status != CacheStatus::out_of_pages) {
      fail("extend of request " + std::to_string(id) + ": " +
           std::string(cache_status_name(status)));
    }
    // The youngest running request makes room; it may be this one. Requests before i are
    // older and already scheduled, so the youngest is never one of them.
    const RequestId victim = running_.back();
    running_.pop_back();
    preempt(victim);
    preempted = true;
  }
  if (!preempted) {
    while (budget > 0 && !queue_.empty() &&
           static_cast<std::int64_t>(running_.size()) < scheduler_.max_running) {
      const RequestId id = queue_.front();
      Live& r = requests_[id];
      const std::int64_t tokens = std::min(r.remaining(), budget);
      const HybridCache::Admission admission = cache_.admit(id, tokens);
      if (admission.status != CacheStatus::ok) break;  // first come, first served
      queue_.pop_front();
      running_.push_back(id);
      scheduled.push_back({id, tokens});
      budget -= tokens;
      if (!r.admitted_once) queue_delays_.push_back(now_ - r.spec.arrival_s);
      r.admitted_once = true;
    }
  }
  if (scheduled.empty()) {
    // Only a step that preempted everything it could schedule computes nothing; the next
    // one admits the preempted request into the freed pool.
    if (!preempted || last_step_empty_) fail("a step could schedule nothing");
    last_step_empty_ = true;
    return false;
  }
  last_step_empty_ = false;

  record_peaks();
  std::int64_t tokens = 0;
  for (const Scheduled& s : scheduled) tokens += s.tokens;
  now_ += run_step(scheduled, tokens);
  ++totals_.steps;
  std::vector<RequestId> done_now;
  for (const Scheduled& s : scheduled) complete(s, done_now);
  if (!done_now.empty()) {
    std::erase_if(running_, [this](RequestId id) { return requests_[id].finished; });
  }
  finish_if_done();
  return true;
}

void ReplayEngine::complete(const Scheduled& s, std::vector<RequestId>& done_now) {
  Live& r = requests_[s.id];
  const std::int64_t first = r.computed, end = r.computed + s.tokens;
  const std::int64_t decode = decode_tokens(r, s.tokens);
  totals_.decode_tokens += decode;
  totals_.prefill_tokens += s.tokens - decode;
  totals_.recomputed_tokens += std::max<std::int64_t>(0, std::min(end, r.high_water) - first);
  r.computed = end;
  r.high_water = std::max(r.high_water, end);
  if (r.remaining() > 0) return;
  if (r.generated < r.spec.output_tokens) {
    ++r.generated;
    if (r.generated == 1) first_token_delays_.push_back(now_ - r.spec.arrival_s);
  }
  if (r.generated == r.spec.output_tokens) {
    cache_.release(s.id);
    r.finished = true;
    ++totals_.finished;
    totals_.generated_tokens += r.spec.output_tokens;
    done_now.push_back(s.id);
  }
}

std::uint64_t ReplayEngine::memory_in_use() const {
  const CacheUsage usage = cache_.usage();
  return static_cast<std::uint64_t>(usage.pages_in_use) * geometry_.bytes_per_page +
         static_cast<std::uint64_t>(cache_.slots().slots_in_use()) *
             geometry_.state_bytes_per_sequence;
}

void ReplayEngine::record_peaks() {
  const auto running = static_cast<std::int64_t>(running_.size());
  const auto queued = static_cast<std::int64_t>(queue_.size());
  totals_.peak_running = std::max(totals_.peak_running, running);
  totals_.peak_queued = std::max(totals_.peak_queued, queued);
  totals_.peak_pages = std::max(totals_.peak_pages, cache_.usage().pages_in_use);
  totals_.peak_slots = std::max(totals_.peak_slots, cache_.slots().slots_in_use());
  totals_.peak_memory = std::max(totals_.peak_memory, memory_in_use());
}

TimelineSample ReplayEngine::sample() const {
  TimelineSample s;
  s.time_s = now_;
  s.step = totals_.steps;
  s.running = static_cast<std::int64_t>(running_.size());
  s.queued = static_cast<std::int64_t>(queue_.size());
  s.pages_in_use = cache_.usage().pages_in_use;
  s.slots_in_use = cache_.slots().slots_in_use();
  s.memory_in_use = memory_in_use();
  s.finished = totals_.finished;
  s.preemptions = totals_.preemptions;
  return s;
}

void ReplayEngine::check_invariants() const {
  const auto running = static_cast<std::int64_t>(running_.size());
  if (cache_.slots().slots_in_use() != running) {
    fail(std::to_string(cache_.slots().slots_in_use()) + " slots in use for " +
         std::to_string(running) + " running requests");
  }
  std::int64_t pages = 0;
  for (const RequestId id : running_) {
    if (cache_.length(id) != requests_[id].computed) {
      fail("request " + std::to_string(id) + " holds " + std::to_string(cache_.length(id)) +
           " tokens in the cache, the scheduler counts " + std::to_string(requests_[id].computed));
    }
    if (geometry_.page_size > 0) pages += ceil_div(requests_[id].computed, geometry_.page_size);
  }
  if (geometry_.page_size > 0 && cache_.usage().pages_in_use != pages) {
    fail(std::to_string(cache_.usage().pages_in_use) + " pages in use, the running requests' " +
         "lengths need " + std::to_string(pages));
  }
  const auto queued = static_cast<std::int64_t>(queue_.size());
  if (totals_.finished + totals_.rejected + running + queued != next_arrival_) {
    fail("finished + rejected + running + queued != arrived");
  }
}

DelaySummary summarize_delays(std::vector<double> values) {
  DelaySummary s;
  s.count = static_cast<std::int64_t>(values.size());
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  auto rank = [&](double p) {
    const auto k = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
    return values[std::max<std::size_t>(k, 1) - 1];
  };
  s.mean_s = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  s.p50_s = rank(0.50);
  s.p99_s = rank(0.99);
  s.max_s = values.back();
  return s;
}

ReplayResult run_replay(HybridCache& cache, const SchedulerConfig& scheduler,
                        std::vector<RequestSpec> requests, const ReplayOptions& options) {
  if (!(options.timeline_interval_s > 0.0)) {
    throw InputError("replay", "timeline_interval_s",
                     "a positive number of seconds, got " +
                         std::to_string(options.timeline_interval_s));
  }
  ReplayEngine engine(cache, scheduler, std::move(requests), options.executor);
  ReplayResult result;
  double next_sample = 0.0;
  while (!engine.done()) {
    if (!engine.step()) continue;
    if (engine.totals().steps > limits::kMaxSimulatedSteps) {
      throw InputError("replay", "steps",
                       "a workload that finishes within limits::kMaxSimulatedSteps = " +
                           std::to_string(limits::kMaxSimulatedSteps) +
                           " steps; use a shorter trace window or fewer requests");
    }
    if (options.check_invariants) engine.check_invariants();
    if (engine.now() >= next_sample) {
      result.timeline.push_back(engine.sample());
      next_sample = (std::floor(engine.now() / options.timeline_interval_s) + 1.0) *
                    options.timeline_interval_s;
    }
    if (options.on_step) options.on_step(engine);
  }
  if (engine.totals().steps > 0 &&
      (result.timeline.empty() || result.timeline.back().step != engine.totals().steps)) {
    result.timeline.push_back(engine.sample());
  }
  result.geometry = engine.geometry();
  result.totals = engine.totals();
  return result;
}

}  // namespace ssmkit
