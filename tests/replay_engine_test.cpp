// The continuous-batching replay: schedules worked out by hand (prefill, chunking, decode,
// preemption and recompute), and the cache invariants after every step of a loaded run.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <set>

#include "replay_test_configs.hpp"
#include "ssmkit/cache/cache_storage.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/serving/replay_engine.hpp"
#include "ssmkit/serving/synthetic_workload.hpp"

namespace ssmkit {
namespace {

// Times that are exact in binary keep the hand-computed expectations exact.
SchedulerConfig sched(std::int64_t budget, double base = 1.0, double per_token = 0.125) {
  SchedulerConfig s;
  s.token_budget = budget;
  s.step_time = {base, per_token};
  return s;
}

ReplayResult replay(HybridCacheConfig config, const SchedulerConfig& s,
                    std::vector<RequestSpec> requests) {
  HybridCache cache(std::move(config));
  return run_replay(cache, s, std::move(requests));
}

TEST(ReplayEngine, OneRequestPrefillsThenDecodesOneTokenAStep) {
  // Prompt 5, output 3: the prefill step yields token 1, two decode steps tokens 2 and 3;
  // the cache ends holding 5 + 3 - 1 = 7 tokens, ceil(7 / 4) = 2 pages.
  const auto r = replay(test::attention_only(8, 4, 2), sched(100), {{2.0, 5, 3}});
  const ReplayTotals& t = r.totals;
  EXPECT_EQ(t.finished, 1);
  EXPECT_EQ(t.steps, 3);
  EXPECT_EQ(t.prefill_tokens, 5);
  EXPECT_EQ(t.decode_tokens, 2);
  EXPECT_EQ(t.generated_tokens, 3);
  EXPECT_EQ(t.peak_pages, 2);
  EXPECT_EQ(t.peak_slots, 1);
  // Idle until 2.0, then steps of 1 + 5/8, 1 + 1/8, 1 + 1/8 seconds.
  EXPECT_DOUBLE_EQ(t.simulated_s, 2.0 + 1.625 + 1.125 + 1.125);
  EXPECT_DOUBLE_EQ(t.queue_delay.max_s, 0.0);
  EXPECT_DOUBLE_EQ(t.time_to_first_token.p50_s, 1.625);
  EXPECT_EQ(t.preemptions, 0);
}

TEST(ReplayEngine, ChunkedPrefillSharesTheTokenBudgetWithDecodes) {
  // Budget 4. A (prompt 6, output 2) and B (prompt 3, output 1) arrive together.
  // Step 1: A's first chunk, 4 tokens; B waits for budget.
  // Step 2: A's last 2 prompt tokens (token 1), B admitted with 2 of its 3.
  // Step 3: A decodes (token 2, done), B's last prompt token (token 1, done).
  const auto r = replay(test::attention_only(8, 4, 4), sched(4), {{0.0, 6, 2}, {0.0, 3, 1}});
  const ReplayTotals& t = r.totals;
  EXPECT_EQ(t.steps, 3);
  EXPECT_EQ(t.finished, 2);
  EXPECT_EQ(t.prefill_tokens, 9);
  EXPECT_EQ(t.decode_tokens, 1);
  EXPECT_EQ(t.generated_tokens, 3);
  EXPECT_EQ(t.peak_pages, 3);  // in step 3: A 7 tokens (2 pages), B 3 tokens (1 page)
  EXPECT_EQ(t.peak_running, 2);
  // Step ends: 1.5, 1.5 + 1.5 = 3.0, 3.0 + 1.25 = 4.25.
  EXPECT_DOUBLE_EQ(t.simulated_s, 4.25);
  EXPECT_DOUBLE_EQ(t.queue_delay.max_s, 1.5);           // B, admitted in step 2
  EXPECT_DOUBLE_EQ(t.time_to_first_token.p50_s, 3.0);   // A
  EXPECT_DOUBLE_EQ(t.time_to_first_token.max_s, 4.25);  // B
}

TEST(ReplayEngine, PreemptsTheYoungestAndRecomputesIt) {
  // 3 pages of 2 tokens. A (prompt 2, output 3) and B (prompt 3, output 2) each end at 4
  // tokens, 2 pages: together 4 > 3.
  // Step 1: both admitted (A 1 page, B 2 pages); each yields token 1.
  // Step 2: A's decode needs a page: B, the youngest, is preempted (it had 3 tokens).
  // Step 3: A decodes to 4 tokens and finishes; B's recompute of 4 tokens (prompt 3 and
  //         its token 1) needs 2 pages but A still holds 2 of 3 until the step ends.
  // Step 4: B recomputes positions 0..2 and feeds token 1 at position 3: token 2, done.
  const auto r = replay(test::attention_only(3, 2, 2), sched(100), {{0.0, 2, 3}, {0.0, 3, 2}});
  const ReplayTotals& t = r.totals;
  EXPECT_EQ(t.steps, 4);
  EXPECT_EQ(t.finished, 2);
  EXPECT_EQ(t.preemptions, 1);
  EXPECT_EQ(t.preempted_requests, 1);
  EXPECT_EQ(t.prefill_tokens, 2 + 3 + 3);
  EXPECT_EQ(t.recomputed_tokens, 3);
  EXPECT_EQ(t.decode_tokens, 2 + 1);
  EXPECT_EQ(t.generated_tokens, 5);
  EXPECT_EQ(t.peak_pages, 3);
}

TEST(ReplayEngine, StateSlotsBoundConcurrencyOfAStateSpaceModel) {
  std::vector<RequestSpec> burst(10, RequestSpec{0.0, 20, 5});
  const auto r = replay(test::ssm_only(3), sched(1000), burst);
  EXPECT_EQ(r.totals.finished, 10);
  EXPECT_EQ(r.totals.peak_running, 3);
  EXPECT_EQ(r.totals.peak_slots, 3);
  EXPECT_EQ(r.totals.peak_pages, 0);
  EXPECT_EQ(r.totals.preemptions, 0);
  // ceil(10 / 3) = 4 waves of 5 steps (prefill + 4 decodes) each.
  EXPECT_EQ(r.totals.steps, 20);
}

TEST(ReplayEngine, RejectsRequestsThatCanNeverFit) {
  // max_seq_len 16: 10 + 8 - 1 = 17 tokens cannot fit; 10 + 7 - 1 = 16 can. And 6 pages
  // of 2 tokens cannot hold 13 tokens even alone.
  HybridCacheConfig config = test::attention_only(20, 4, 2, 16);
  auto r = replay(config, sched(100), {{0.0, 10, 8}, {0.0, 10, 7}});
  EXPECT_EQ(r.totals.rejected, 1);
  EXPECT_EQ(r.totals.finished, 1);
  r = replay(test::attention_only(6, 2, 2), sched(100), {{0.0, 12, 2}, {0.0, 4, 2}});
  EXPECT_EQ(r.totals.rejected, 1);
  EXPECT_EQ(r.totals.finished, 1);
}

TEST(ReplayEngine, InvariantsHoldAtEveryStepUnderPreemption) {
  SyntheticWorkload w;
  w.seed = 3, w.requests = 120, w.arrival_rate = 40.0;
  w.prompt = {LengthDistribution::Kind::lognormal, 0, 1, 200, 40.0, 0.9};
  w.output = {LengthDistribution::Kind::uniform, 0, 1, 60};
  HybridCache cache(test::hybrid(80, 4, 12));
  ReplayEngine engine(cache, sched(96, 0.01, 1e-4), generate_requests(w));
  std::int64_t steps = 0;
  while (!engine.done()) {
    if (!engine.step()) continue;
    ++steps;
    const auto& running = engine.running();
    std::int64_t pages = 0;
    for (const RequestId id : running) pages += (cache.length(id) + 3) / 4;
    ASSERT_EQ(cache.usage().pages_in_use, pages) << "step " << steps;
    ASSERT_EQ(cache.slots().slots_in_use(), static_cast<std::int64_t>(running.size()));
    ASSERT_LE(static_cast<std::int64_t>(running.size()), 12);
    const auto queued = static_cast<std::int64_t>(engine.queued().size());
    ASSERT_EQ(engine.finished() + engine.rejected() + static_cast<std::int64_t>(running.size()) +
                  queued,
              engine.arrived());
    ASSERT_NO_THROW(engine.check_invariants());
  }
  const ReplayTotals& t = engine.totals();
  EXPECT_GT(t.preemptions, 0) << "the workload must exercise preemption";
  EXPECT_EQ(t.finished + t.rejected, w.requests);
  EXPECT_EQ(t.rejected, 0);
  std::int64_t preempted = 0;
  for (RequestId id = 0; id < static_cast<RequestId>(w.requests); ++id) {
    preempted += engine.was_preempted(id) ? 1 : 0;
    EXPECT_TRUE(engine.is_finished(id)) << id;
    EXPECT_EQ(engine.generated(id), engine.request(id).output_tokens) << id;
  }
  EXPECT_EQ(preempted, t.preempted_requests);  // and every one of them finished
  EXPECT_EQ(cache.usage().pages_in_use, 0);
  EXPECT_EQ(cache.slots().slots_in_use(), 0);
  std::int64_t prompts = 0, outputs = 0;
  for (RequestId id = 0; id < static_cast<RequestId>(w.requests); ++id) {
    prompts += engine.request(id).prompt_tokens;
    outputs += engine.request(id).output_tokens;
  }
  EXPECT_EQ(t.generated_tokens, outputs);
  EXPECT_EQ(t.prefill_tokens - t.recomputed_tokens, prompts);
  EXPECT_EQ(t.decode_tokens, outputs - w.requests);  // the prefill yields each first token
}

TEST(ReplayEngine, OmittedStorageKeepsTheAccountingIdentical) {
  const HybridCacheConfig config = test::hybrid(40, 4, 6);
  std::size_t allocated = 0;
  {
    HybridCache real(config);
    for (const auto& [name, tensor] : real.storage()) allocated += tensor->nbytes();
    EXPECT_EQ(allocated, real.usage().bytes_allocated);
  }
  OmittedStorage omit;
  HybridCache bare(config, omit);
  EXPECT_EQ(omit.bytes_omitted(), allocated);
  EXPECT_FALSE(bare.holds_data());
  EXPECT_EQ(bare.storage_location(), "omitted (accounting only)");
  EXPECT_EQ(bare.usage().bytes_allocated, allocated);
  EXPECT_THROW(bare.attention(), std::logic_error);
  EXPECT_THROW(bare.mamba2(), std::logic_error);
  EXPECT_THROW(bare.storage(), std::logic_error);

  SyntheticWorkload w;
  w.seed = 11, w.requests = 60, w.arrival_rate = 30.0;
  w.prompt = {LengthDistribution::Kind::uniform, 0, 1, 120};
  w.output = {LengthDistribution::Kind::uniform, 0, 1, 40};
  HybridCache with_storage(config);
  const ReplayResult a = run_replay(with_storage, sched(64, 0.01, 1e-4), generate_requests(w));
  const ReplayResult b = run_replay(bare, sched(64, 0.01, 1e-4), generate_requests(w));
  EXPECT_GT(a.totals.preemptions, 0);
  EXPECT_EQ(a.totals.steps, b.totals.steps);
  EXPECT_EQ(a.totals.preemptions, b.totals.preemptions);
  EXPECT_EQ(a.totals.peak_pages, b.totals.peak_pages);
  EXPECT_EQ(a.totals.peak_memory, b.totals.peak_memory);
  ASSERT_EQ(a.timeline.size(), b.timeline.size());
  for (std::size_t i = 0; i < a.timeline.size(); ++i) {
    EXPECT_EQ(a.timeline[i].pages_in_use, b.timeline[i].pages_in_use);
    EXPECT_EQ(a.timeline[i].memory_in_use, b.timeline[i].memory_in_use);
  }
}

TEST(ReplayEngine, TimelineSamplesOncePerInterval) {
  std::vector<RequestSpec> requests;
  for (int i = 0; i < 20; ++i) requests.push_back({0.5 * i, 8, 8});
  HybridCache cache(test::attention_only(64, 4, 4));
  ReplayOptions options;
  options.timeline_interval_s = 2.0;
  const ReplayResult r = run_replay(cache, sched(64, 0.25, 0.0), requests, options);
  ASSERT_GE(r.timeline.size(), 2u);
  for (std::size_t i = 1; i + 1 < r.timeline.size(); ++i) {
    // One sample per 2-second interval at most, in order; the last one is the end.
    EXPECT_GT(std::floor(r.timeline[i].time_s / 2.0), std::floor(r.timeline[i - 1].time_s / 2.0));
  }
  EXPECT_EQ(r.timeline.back().step, r.totals.steps);
  EXPECT_EQ(r.timeline.back().finished, 20);
  const std::uint64_t page_bytes = cache.config().attention->bytes_per_page();
  for (const TimelineSample& s : r.timeline) {
    EXPECT_EQ(s.memory_in_use, static_cast<std::uint64_t>(s.pages_in_use) * page_bytes);
  }
}

TEST(ReplayEngine, BadSchedulerSettingsAreInputErrors) {
  HybridCache cache(test::attention_only(8, 4, 2));
  EXPECT_THROW(ReplayEngine(cache, sched(0), {}), InputError);
  EXPECT_THROW(ReplayEngine(cache, sched(8, 0.0, 0.0), {}), InputError);
}

TEST(ReplayEngine, DelaySummaryUsesNearestRankPercentiles) {
  std::vector<double> v(100);
  std::iota(v.begin(), v.end(), 1.0);
  std::shuffle(v.begin(), v.end(), std::mt19937(1));
  const DelaySummary s = summarize_delays(v);
  EXPECT_EQ(s.count, 100);
  EXPECT_DOUBLE_EQ(s.mean_s, 50.5);
  EXPECT_DOUBLE_EQ(s.p50_s, 50.0);
  EXPECT_DOUBLE_EQ(s.p99_s, 99.0);
  EXPECT_DOUBLE_EQ(s.max_s, 100.0);
  EXPECT_EQ(summarize_delays({}).count, 0);
}

}  // namespace
}  // namespace ssmkit
