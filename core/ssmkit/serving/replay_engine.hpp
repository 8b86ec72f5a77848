#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ssmkit/cache/hybrid_cache.hpp"
#include "ssmkit/serving/request.hpp"
#include "ssmkit/serving/step_executor.hpp"

namespace ssmkit {

// The simulated duration of one scheduler step: base_s + per_token_s * (tokens the step
// computes, prefill chunks and decode tokens alike). A model for queueing, not a
// measurement: no kernels run in an accounting-only replay.
struct StepTimeModel {
  double base_s = 0.010;
  double per_token_s = 20e-6;

  double duration(std::int64_t tokens) const {
    return base_s + per_token_s * static_cast<double>(tokens);
  }
};

struct SchedulerConfig {
  std::int64_t token_budget = 8192;  // tokens computed per step: decode tokens + prefill chunks
  std::int64_t max_running = 0;      // sequences admitted at once; 0: one per state slot
  // Requests longer than this are rejected, as an engine's max model length does; 0: only
  // the cache's own limit (a KV pool's max_seq_len; state caches have none).
  std::int64_t max_seq_len = 0;
  StepTimeModel step_time;
};

// The cache's size as the replay saw it.
struct ReplayCacheGeometry {
  std::int64_t state_slots = 0;
  std::uint64_t state_bytes_per_sequence = 0;  // every state cache's layers, one sequence
  std::int64_t page_size = 0;                  // 0: the model has no attention layers
  std::int64_t usable_pages = 0;               // the pool less the dummy page
  std::uint64_t bytes_per_page = 0;
  std::int64_t max_seq_len = 0;                // 0: no limit (no attention layers)
  std::uint64_t bytes_allocated = 0;           // the whole cache, HybridCache::usage()
};

struct TimelineSample {
  double time_s = 0.0;
  std::int64_t step = 0;
  std::int64_t running = 0, queued = 0;
  std::int64_t pages_in_use = 0, slots_in_use = 0;
  std::uint64_t memory_in_use = 0;  // pages and state slots in use, in bytes
  std::int64_t finished = 0, preemptions = 0;
};

struct DelaySummary {
  std::int64_t count = 0;
  double mean_s = 0.0, p50_s = 0.0, p99_s = 0.0, max_s = 0.0;
};

// What a replay whose steps ran on a StepExecutor measured: the kernels' seconds, summed
// over the steps, and the tokens computed per second of them.
struct KernelTotals {
  std::string executor;  // StepExecutor::description()
  double seconds = 0.0, prefill_s = 0.0, decode_s = 0.0;
  std::int64_t steps = 0, gated_steps = 0;  // steps timed; of them, timed behind the launch gate
  double tokens_per_s = 0.0;          // (prefill + decode tokens) / seconds
  double prefill_tokens_per_s = 0.0;  // prefill tokens (recomputed ones included) / prefill_s
  double decode_tokens_per_s = 0.0;   // decode tokens / decode_s
};

struct ReplayTotals {
  std::int64_t requests = 0;  // in the workload
  std::int64_t finished = 0;
  // Requests that could never run: longer than the cache's max_seq_len, or needing more
  // pages than the whole pool. Dropped on arrival.
  std::int64_t rejected = 0;
  std::int64_t steps = 0;
  // Set once the last request has finished (or been rejected):
  double simulated_s = 0.0;  // the model's time then
  std::int64_t prefill_tokens = 0;     // computed before a request's first or next new token,
  std::int64_t recomputed_tokens = 0;  // of those, recomputed after a preemption
  std::int64_t decode_tokens = 0;      // one per running sequence per decode step
  std::int64_t generated_tokens = 0;   // output tokens of finished requests
  std::int64_t preemptions = 0;
  std::int64_t preempted_requests = 0;  // distinct requests preempted at least once
  std::int64_t peak_running = 0, peak_queued = 0;
  std::int64_t peak_pages = 0, peak_slots = 0;
  std::uint64_t peak_memory = 0;
  DelaySummary queue_delay;            // arrival to first admission
  DelaySummary time_to_first_token;    // arrival to the end of the prefill step
  // Only with a StepExecutor; then every time above is measured kernel time, not the model's.
  std::optional<KernelTotals> kernels;
};

// Continuous batching through a HybridCache, in the manner of vLLM's scheduler, with the
// cache library doing all the accounting. Each step:
//  1. requests that have arrived join the queue (FIFO);
//  2. running requests, oldest first, get their next tokens within the step's token budget:
//     one for a decoding sequence, a chunk of the rest of its prompt for a prefilling one
//     (HybridCache::extend). When pages run out the youngest running request is preempted:
//     released and put back at the head of the queue, to recompute its prompt and the
//     tokens it had generated when it runs again (vLLM's recompute preemption);
//  3. if nobody was preempted, queued requests are admitted in order (HybridCache::admit,
//     with the first chunk of their prompt) while the budget, max_running, the state slots
//     and the pages allow;
//  4. simulated time advances by the step-time model, or, with a StepExecutor, by the time
//     the executor measured running the step's kernels; a request whose tokens are all
//     computed produces its next token, and is released when it has produced them all.
// A request produces its first token at the end of its prefill, so it leaves the cache
// holding prompt + output - 1 tokens. When nothing runs and nothing waits, time jumps to the
// next arrival.
class ReplayEngine {
 public:
  // The cache must be empty; its storage may be omitted (a cache on OmittedStorage).
  // With an executor (which must outlive the engine) every step's work runs on it.
  ReplayEngine(HybridCache& cache, SchedulerConfig scheduler, std::vector<RequestSpec> requests,
               StepExecutor* executor = nullptr);

  bool done() const;
  // One scheduler step, or a jump to the next arrival when idle. Returns whether a step ran.
  bool step();

  double now() const { return now_; }
  const HybridCache& cache() const { return cache_; }
  const ReplayTotals& totals() const { return totals_; }
  const ReplayCacheGeometry& geometry() const { return geometry_; }
  // Requests holding a state slot, in admission order (oldest first).
  const std::vector<RequestId>& running() const { return running_; }
  const std::deque<RequestId>& queued() const { return queue_; }
  std::int64_t arrived() const { return next_arrival_; }
  std::int64_t finished() const { return totals_.finished; }
  std::int64_t rejected() const { return totals_.rejected; }
  const RequestSpec& request(RequestId id) const { return requests_.at(id).spec; }
  std::int64_t generated(RequestId id) const { return requests_.at(id).generated; }
  bool is_finished(RequestId id) const { return requests_.at(id).finished; }
  bool was_preempted(RequestId id) const { return requests_.at(id).preempted_once; }
  std::uint64_t memory_in_use() const;
  TimelineSample sample() const;

  // Cross-checks the engine's view with the cache's (slots, lengths and, with attention
  // layers, pages) and that no request was lost; a std::logic_error says what disagrees.
  void check_invariants() const;

 private:
  struct Live {
    RequestSpec spec;
    std::int64_t computed = 0;    // tokens in the cache
    std::int64_t generated = 0;   // output tokens produced so far
    std::int64_t high_water = 0;  // most tokens it ever had in the cache
    bool admitted_once = false, preempted_once = false, finished = false;
    std::int64_t remaining() const { return spec.prompt_tokens + generated - computed; }
  };
  struct Scheduled {
    RequestId id;
    std::int64_t tokens;
  };

  bool can_ever_run(const RequestSpec& spec) const;
  void take_arrivals();
  void preempt(RequestId id);
  void complete(const Scheduled& s, std::vector<RequestId>& done_now);
  // Of `tokens` starting at the request's computed position, those that feed a fresh
  // output token (decode) rather than recompute or prefill.
  std::int64_t decode_tokens(const Live& r, std::int64_t tokens) const;
  StepWork work_of(const std::vector<Scheduled>& scheduled) const;
  double run_step(const std::vector<Scheduled>& scheduled, std::int64_t tokens);
  void record_peaks();
  void finish_if_done();

  HybridCache& cache_;
  SchedulerConfig scheduler_;
  StepExecutor* executor_ = nullptr;
  ReplayCacheGeometry geometry_;
  std::vector<Live> requests_;
  std::int64_t next_arrival_ = 0;
  std::deque<RequestId> queue_;
  std::vector<RequestId> running_;
  std::vector<double> queue_delays_, first_token_delays_;
  ReplayTotals totals_;
  double now_ = 0.0;
  bool last_step_empty_ = false;
  bool summarized_ = false;
};

struct ReplayOptions {
  // A timeline sample at the first step end past each multiple of this, and one at the end.
  double timeline_interval_s = 1.0;
  bool check_invariants = false;     // after every step (slower)
  std::function<void(const ReplayEngine&)> on_step;  // after every step: progress reports
  StepExecutor* executor = nullptr;  // runs every step's kernels; none: accounting only
};

struct ReplayResult {
  ReplayCacheGeometry geometry;
  ReplayTotals totals;
  std::vector<TimelineSample> timeline;
};

ReplayResult run_replay(HybridCache& cache, const SchedulerConfig& scheduler,
                        std::vector<RequestSpec> requests, const ReplayOptions& options = {});

// Mean, nearest-rank p50/p99 and max of delays in seconds; all 0 when there are none.
DelaySummary summarize_delays(std::vector<double> values);

}  // namespace ssmkit
