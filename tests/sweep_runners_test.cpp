// `ssmkit sweep` with command validate and bench: what a point counts and measures, how a
// point that cannot run (the cuda backend without a GPU) is recorded, and the model's own
// shapes for bench.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_util.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

const auto ssmkit = test::run_ssmkit;
const auto q = test::quoted;

// The scenario fields a validate or bench point does not use must still make a scenario.
const std::string kScenarioHead =
    "model: mamba2-2.7b\n"
    "cache: {memory: 1GiB, max_sequences: 4}\n"
    "workload: {synthetic: {requests: 1, arrival_rate: 1, prompt: 8, output: 2}}\n";

nlohmann::json run_sweep(const std::filesystem::path& sweep, const std::filesystem::path& json,
                         int expected_exit) {
  const test::CliRun r = ssmkit("sweep " + q(sweep) + " --json " + q(json));
  EXPECT_EQ(r.exit_code, expected_exit) << r.output;
  std::ifstream in(json);
  return nlohmann::json::parse(in);
}

TEST(SweepRunners, ValidatePointsCountTheirBackendsResultsAndFilteredCases) {
  test::TempDir dir;
  const auto golden = test::source_dir() / "golden";
  const auto suite = dir / "suite";
  std::filesystem::create_directories(suite);
  std::filesystem::copy_file(golden / "causal_conv1d" / "basic_silu.h5", suite / "conv_ok.h5");
  test::write_perturbed(golden / "causal_conv1d" / "basic_silu.h5", suite / "conv_bad.h5", 1e-2);
  std::filesystem::copy_file(golden / "selective_scan" / "basic.h5", suite / "scan_ok.h5");
  std::ofstream(dir / "base.yaml") << kScenarioHead << "validate: {suite: suite}\n";
  std::ofstream(dir / "sweep.yaml") << "command: validate\nbase: base.yaml\naxes:\n"
                                       "  backend: [cpu, cuda]\n"
                                       "  validate.ops: [[causal_conv1d], [selective_scan]]\n";
  const auto doc = run_sweep(dir / "sweep.yaml", dir / "out.json", 1);
  const auto& p = doc["points"];
  ASSERT_EQ(p.size(), 4u);
  // cpu, causal_conv1d: the good copy passes, the perturbed one fails, the scan is left out.
  EXPECT_EQ(p[0]["status"], "failed");
  EXPECT_EQ(p[0]["metrics"]["passed"], 1);
  EXPECT_EQ(p[0]["metrics"]["failed"], 1);
  EXPECT_EQ(p[0]["metrics"]["skipped"], 1);
  EXPECT_NE(p[0]["message"].get<std::string>().find("conv_bad"), std::string::npos) << p[0];
  // cpu, selective_scan: one case, passing; both conv files left out.
  EXPECT_EQ(p[1]["status"], "ok");
  EXPECT_EQ(p[1]["metrics"]["passed"], 1);
  EXPECT_EQ(p[1]["metrics"]["failed"], 0);
  EXPECT_EQ(p[1]["metrics"]["skipped"], 2);
  // cuda: without a GPU both points are errors that say why, and the cpu points still ran.
  if (p[2]["status"] == "error") {
    for (int i : {2, 3}) {
      EXPECT_EQ(p[i]["status"], "error");
      EXPECT_NE(p[i]["message"].get<std::string>().find("backend 'cuda' is not available"),
                std::string::npos)
          << p[i];
    }
  } else {
    EXPECT_EQ(p[2]["status"], "failed");
    EXPECT_EQ(p[2]["metrics"]["passed"], 1);
    EXPECT_EQ(p[2]["metrics"]["failed"], 1);
    EXPECT_EQ(p[3]["status"], "ok");
    EXPECT_EQ(p[3]["metrics"]["passed"], 1);
  }
}

TEST(SweepRunners, BenchPointsReportMedianTimeAndBandwidthPerCase) {
  test::TempDir dir;
  std::ofstream(dir / "base.yaml") << kScenarioHead
                                   << "bench: {preset: tiny, batch: [1], seqlen: [64], "
                                      "decode_batch: [2], repetitions: 2}\n";
  std::ofstream(dir / "sweep.yaml") << "command: bench\nbase: base.yaml\naxes:\n"
                                       "  bench.ops: [[causal_conv1d, selective_state_update], [paged_kv_write]]\n";
  const auto doc = run_sweep(dir / "sweep.yaml", dir / "out.json", 0);
  const auto& p = doc["points"];
  ASSERT_EQ(p.size(), 2u);
  const std::vector<std::set<std::string>> ops = {{"causal_conv1d", "selective_state_update"},
                                                  {"paged_kv_write"}};
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(p[i]["status"], "ok") << p[i];
    EXPECT_EQ(p[i]["metrics"]["shapes"], "tiny");
    // One median and one rate per case, the case's op among those asked for.
    std::set<std::string> seen_ops;
    int medians = 0;
    for (const auto& [key, value] : p[i]["metrics"].items()) {
      const std::string suffix = " median_s";
      if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
        continue;
      }
      ++medians;
      const std::string name = key.substr(0, key.size() - suffix.size());
      seen_ops.insert(name.substr(0, name.find('/')));
      EXPECT_GT(value.get<double>(), 0.0) << key;
      ASSERT_TRUE(p[i]["metrics"].contains(name + " GB/s")) << name;
      EXPECT_GT(p[i]["metrics"][name + " GB/s"].get<double>(), 0.0) << name;
    }
    EXPECT_EQ(seen_ops, ops[i]);
    // tiny has Mamba1, Mamba2, Gated DeltaNet and KDA shapes: four conv1d widths (B=1,
    // L=64) and four state updates (two layouts x float32 and bfloat16 states); a prefill and
    // a decode KV write.
    EXPECT_EQ(medians, i == 0 ? 8 : 2) << p[i]["metrics"];
  }
}

TEST(SweepRunners, BenchShapesComeFromTheModel) {
  const ModelSpec jamba = model_preset("Jamba-v0.1");
  const bench::ShapePreset s = bench::shape_preset_for(jamba, 32);
  ASSERT_TRUE(s.mamba1 && s.attention);
  EXPECT_FALSE(s.mamba2 || s.lightning);
  // Jamba-v0.1's config.json: hidden 4096, expand 2, d_state 16, d_conv 4, 8 KV heads of 128.
  EXPECT_EQ(s.mamba1->d_inner, 8192);
  EXPECT_EQ(s.mamba1->d_state, 16);
  EXPECT_EQ(s.mamba1->d_conv, 4);
  EXPECT_EQ(s.attention->kv_heads, 8);
  EXPECT_EQ(s.attention->head_dim, 128);
  EXPECT_EQ(s.attention->page_size, 32);
  const bench::ShapePreset m2 = bench::shape_preset_for(model_preset("mamba2-2.7b"), 16);
  ASSERT_TRUE(m2.mamba2);
  // state-spaces/mamba2-2.7b: 80 heads of 64, d_state 128, 1 group, d_conv 4.
  EXPECT_EQ(m2.mamba2->nheads, 80);
  EXPECT_EQ(m2.mamba2->headdim, 64);
  EXPECT_EQ(m2.mamba2->d_state, 128);
  EXPECT_EQ(m2.mamba2->ngroups, 1);
}

TEST(SweepRunners, BadRunnerFieldsAreReportedAtTheirLine) {
  test::TempDir dir;
  std::ofstream(dir / "base.yaml") << kScenarioHead << "bench: {repetitions: 0}\n";
  std::ofstream(dir / "sweep.yaml") << "command: bench\nbase: base.yaml\naxes:\n  backend: [cpu]\n";
  const test::CliRun r = ssmkit("sweep " + q(dir / "sweep.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find((dir / "base.yaml").string() + ":4:22: bench.repetitions"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace ssmkit
