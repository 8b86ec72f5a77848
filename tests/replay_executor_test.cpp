// A replay whose steps run on a StepExecutor: what each step hands the executor (slots,
// first positions, token counts, prefill or decode), worked out by hand on the schedules
// of replay_engine_test.cpp, and the executor's times driving the clock and the totals.
#include <gtest/gtest.h>

#include <vector>

#include "cpu/cpu_backend.hpp"
#include "replay_test_configs.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "ssmkit/serving/replay_engine.hpp"
#include "ssmkit/serving/step_executor.hpp"

namespace ssmkit {
namespace {

// Records every step; step k (0-based) takes `times[k]`.
class FakeExecutor final : public StepExecutor {
 public:
  explicit FakeExecutor(std::vector<StepTiming> times) : times_(std::move(times)) {}
  std::string description() const override { return "fake"; }
  StepTiming run(const StepWork& step, HybridCache& cache) override {
    // The step's pages and slots exist before its kernels run.
    for (const ScheduledTokens& r : step.requests) {
      EXPECT_TRUE(cache.contains(r.request));
      EXPECT_EQ(cache.slot_of(r.request), r.slot);
      EXPECT_EQ(cache.length(r.request), r.first_position + r.tokens);
    }
    steps.push_back(step);
    return times_.at(steps.size() - 1);
  }
  std::vector<StepWork> steps;

 private:
  std::vector<StepTiming> times_;
};

SchedulerConfig budget(std::int64_t tokens) {
  SchedulerConfig s;
  s.token_budget = tokens;
  return s;
}

void expect_entry(const ScheduledTokens& e, RequestId id, std::int64_t first, std::int64_t tokens,
                  bool prefill) {
  EXPECT_EQ(e.request, id);
  EXPECT_EQ(e.first_position, first) << "request " << id;
  EXPECT_EQ(e.tokens, tokens) << "request " << id;
  EXPECT_EQ(e.prefill, prefill) << "request " << id;
}

TEST(ReplayExecutor, ChunkedPrefillStepsAndMeasuredTimesDriveTheClock) {
  // Budget 4; A (prompt 6, output 2) and B (prompt 3, output 1) at 0 (as in
  // ReplayEngine.ChunkedPrefillSharesTheTokenBudgetWithDecodes):
  //   step 0: A [0, 4) prefill;  step 1: A [4, 6) prefill, B [0, 2) prefill;
  //   step 2: A's decode at 6, B [2, 3) prefill.
  FakeExecutor fake({{1.0, 1.0, 0.0}, {2.0, 2.0, 0.0}, {3.0, 1.0, 2.0}});
  HybridCache cache(test::hybrid(8, 4, 4));
  ReplayOptions options;
  options.executor = &fake;
  const ReplayResult r = run_replay(cache, budget(4), {{0.0, 6, 2}, {0.0, 3, 1}}, options);
  ASSERT_EQ(fake.steps.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(fake.steps[i].step, static_cast<std::int64_t>(i));
  ASSERT_EQ(fake.steps[0].requests.size(), 1u);
  expect_entry(fake.steps[0].requests[0], 0, 0, 4, true);
  ASSERT_EQ(fake.steps[1].requests.size(), 2u);
  expect_entry(fake.steps[1].requests[0], 0, 4, 2, true);
  expect_entry(fake.steps[1].requests[1], 1, 0, 2, true);
  ASSERT_EQ(fake.steps[2].requests.size(), 2u);
  expect_entry(fake.steps[2].requests[0], 0, 6, 1, false);
  expect_entry(fake.steps[2].requests[1], 1, 2, 1, true);
  EXPECT_EQ(fake.steps[2].prefill_tokens(), 1);
  EXPECT_EQ(fake.steps[2].decode_tokens(), 1);
  // A and B hold different slots, each the same in every step.
  EXPECT_NE(fake.steps[1].requests[0].slot, fake.steps[1].requests[1].slot);
  EXPECT_EQ(fake.steps[0].requests[0].slot, fake.steps[2].requests[0].slot);
  EXPECT_EQ(fake.steps[1].requests[1].slot, fake.steps[2].requests[1].slot);

  // Step ends at 1, 3, 6 (the step-time model would have said 1.08, 2.16, 3.2).
  const ReplayTotals& t = r.totals;
  EXPECT_DOUBLE_EQ(t.simulated_s, 6.0);
  EXPECT_DOUBLE_EQ(t.queue_delay.max_s, 1.0);           // B, admitted in step 1
  EXPECT_DOUBLE_EQ(t.time_to_first_token.p50_s, 3.0);   // A
  EXPECT_DOUBLE_EQ(t.time_to_first_token.max_s, 6.0);   // B
  ASSERT_TRUE(t.kernels.has_value());
  EXPECT_EQ(t.kernels->executor, "fake");
  EXPECT_DOUBLE_EQ(t.kernels->seconds, 6.0);
  EXPECT_DOUBLE_EQ(t.kernels->prefill_s, 4.0);
  EXPECT_DOUBLE_EQ(t.kernels->decode_s, 2.0);
  EXPECT_DOUBLE_EQ(t.kernels->tokens_per_s, 10.0 / 6.0);  // 9 prefill + 1 decode tokens
  EXPECT_DOUBLE_EQ(t.kernels->prefill_tokens_per_s, 9.0 / 4.0);
  EXPECT_DOUBLE_EQ(t.kernels->decode_tokens_per_s, 1.0 / 2.0);
}

TEST(ReplayExecutor, ARecomputeAfterPreemptionIsOnePrefillFromPositionZero) {
  // As in ReplayEngine.PreemptsTheYoungestAndRecomputesIt: 3 pages of 2 tokens; A (prompt
  // 2, output 3), B (prompt 3, output 2). B is preempted in step 1 and in step 3 recomputes
  // its 3 prompt tokens and token 1 in one chunk, which is a prefill from position 0.
  FakeExecutor fake(std::vector<StepTiming>(4, {0.5, 0.25, 0.25}));
  HybridCache cache(test::attention_only(3, 2, 2));
  ReplayOptions options;
  options.executor = &fake;
  const ReplayResult r = run_replay(cache, budget(100), {{0.0, 2, 3}, {0.0, 3, 2}}, options);
  ASSERT_EQ(fake.steps.size(), 4u);
  ASSERT_EQ(fake.steps[0].requests.size(), 2u);
  expect_entry(fake.steps[0].requests[0], 0, 0, 2, true);
  expect_entry(fake.steps[0].requests[1], 1, 0, 3, true);
  ASSERT_EQ(fake.steps[1].requests.size(), 1u);  // B was preempted to make room
  expect_entry(fake.steps[1].requests[0], 0, 2, 1, false);
  ASSERT_EQ(fake.steps[2].requests.size(), 1u);
  expect_entry(fake.steps[2].requests[0], 0, 3, 1, false);
  ASSERT_EQ(fake.steps[3].requests.size(), 1u);
  expect_entry(fake.steps[3].requests[0], 1, 0, 4, true);
  EXPECT_EQ(r.totals.preemptions, 1);
  EXPECT_DOUBLE_EQ(r.totals.simulated_s, 2.0);
}

TEST(ReplayExecutor, WithoutAnExecutorTheTotalsCarryNoKernelTimes) {
  HybridCache cache(test::attention_only(8, 4, 2));
  const ReplayResult r = run_replay(cache, budget(100), {{0.0, 5, 3}});
  EXPECT_FALSE(r.totals.kernels.has_value());
}

TEST(ReplayExecutor, ABackendWithoutKernelReplaySaysSo) {
  CpuBackend cpu;
  HybridCache cache(test::attention_only(8, 4, 2));
  try {
    cpu.step_executor(cache, model_preset("mamba2-2.7b"));
    ADD_FAILURE() << "the CPU backend made a step executor";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("backend cpu"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("accounting only"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ssmkit
