// `ssmkit replay` end to end: the table, the JSON (timeline and totals, marked accounting
// only), exit status 1 for a failed check and 2 for bad input with its location.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using test::CliRun;
using test::env_or;
const auto ssmkit = test::run_ssmkit;

const std::filesystem::path kScenarios =
    std::filesystem::path(env_or("SSMKIT_SOURCE_DIR", SSMKIT_SOURCE_DIR)) / "scenarios";

const auto q = test::quoted;

TEST(ReplayCli, ScenarioReplayWritesTableAndJson) {
  test::TempDir dir;
  const auto json_path = dir / "r.json";
  const CliRun r = ssmkit("replay " + q(kScenarios / "synthetic-jamba-tight.yaml") + " --json " +
                       q(json_path) + " --timeline-interval 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("accounting only"), std::string::npos);
  EXPECT_NE(r.output.find("requests finished  400 of 400"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("PASS invariants"), std::string::npos);
  EXPECT_EQ(r.output.find("\r"), std::string::npos);  // no progress bar into a pipe
  std::ifstream in(json_path);
  const auto doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc["accounting_only"], true);
  EXPECT_EQ(doc["totals"]["finished"], 400);
  EXPECT_GT(doc["totals"]["preemptions"].get<int>(), 0);
  ASSERT_GE(doc["timeline"].size(), 2u);
  const auto& last = doc["timeline"].back();
  EXPECT_EQ(last["finished"], 400);
  EXPECT_EQ(last["step"], doc["totals"]["steps"]);
  for (const auto& s : doc["timeline"]) {
    EXPECT_LE(s["slots_in_use"].get<int>(), 16);
    EXPECT_LE(s["memory_in_use_bytes"].get<std::uint64_t>(), doc["scenario"]["memory_budget_bytes"].get<std::uint64_t>());
  }
}

TEST(ReplayCli, FlagsAloneMakeAScenario) {
  const CliRun r = ssmkit("replay --model Jamba-v0.1 --trace " +
                       q(kScenarios / "traces" / "AzureLLMInferenceTrace_conv.csv") +
                       " --limit 300 --gpu h100 --utilization 0.25 --max-sequences 32");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("requests finished  300 of 300"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("0.25 x h100 (79.65 GiB) = 19.91 GiB"), std::string::npos) << r.output;
}

TEST(ReplayCli, FailedCheckExitsOneBadInputTwo) {
  test::TempDir dir;
  // 8 prompts of 1000 tokens fit (8 x 63 of 695 pages), but growing to 2000 tokens each
  // they need 1000 pages: preemptions, which the scenario does not allow.
  std::ofstream(dir / "s.yaml") << "model: Jamba-v0.1\n"
                                   "cache: {memory: 300MiB, max_sequences: 8}\n"
                                   "workload:\n"
                                   "  synthetic: {requests: 40, arrival_rate: .inf, prompt: 1000, output: 1000}\n"
                                   "checks: {max_preemptions: 0}\n";
  CliRun r = ssmkit("replay " + q(dir / "s.yaml"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("FAIL max_preemptions"), std::string::npos) << r.output;

  std::ofstream(dir / "bad.yaml") << "model: Jamba-v0.1\ncache: {memory: 1GiB, page_size: x}\n";
  r = ssmkit("replay " + q(dir / "bad.yaml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.yaml:2:34: cache.page_size"), std::string::npos) << r.output;

  r = ssmkit("replay --model Jamba-v0.1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = ssmkit("replay --model nope --trace x.csv --gpu-mem 1GiB");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = ssmkit("replay --model Jamba-v0.1 --trace " + q(dir / "missing.csv") + " --gpu-mem 1GiB --max-sequences 8");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("missing.csv"), std::string::npos) << r.output;
  // The trace flags on a synthetic scenario: the flag is named, not the scenario's line.
  r = ssmkit("replay " + q(kScenarios / "synthetic-jamba-tight.yaml") + " --limit 10");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("ssmkit replay: --limit: a scenario whose workload is a trace"), std::string::npos)
      << r.output;
  // An output that could not be written is found before the replay runs, not after.
  r = ssmkit("replay " + q(kScenarios / "synthetic-jamba-tight.yaml") + " --json " + q(dir / "no" / "r.json"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--json: cannot open the file for writing"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("requests finished"), std::string::npos) << r.output;
  r = ssmkit("replay " + q(kScenarios / "synthetic-jamba-tight.yaml") + " --backend tpu");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--backend: tpu not in {cpu,cuda}"), std::string::npos) << r.output;
}

TEST(ReplayCli, CudaBackendRunsTheKernelsOrExitsTwoWithoutAGpu) {
  const CliRun r = ssmkit("replay " + q(kScenarios / "mamba2-2.7b-azure-conv.yaml") +
                          " --backend cuda --limit 40 --gpu-mem 16GiB --max-sequences 32");
  if (r.output.find("backend 'cuda' is not available") != std::string::npos) {
    // No GPU: the message validate gives, and no fallback to an accounting-only replay.
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(r.output.find("requests finished"), std::string::npos) << r.output;
    GTEST_SKIP() << "GPU part skipped: " << r.output;
  }
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("kernels: CUDA kernels on the cache's GPU storage"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("tokens/s (kernels)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("requests finished  40 of 40"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ssmkit
