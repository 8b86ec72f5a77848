// One model registry: bench's shape presets are the model presets (plus "tiny"), and names
// people type (presets, --gpu, dtypes) match whatever their case.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "cli_util.hpp"
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/bench/run_comparison.hpp"
#include "ssmkit/dtype.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/model/gpu_table.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "ssmkit/scenario/scenario.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

// The shapes bench's presets had when they were written by hand, before they came from the
// model presets: the derived ones must be the same numbers.
TEST(ModelRegistry, OldBenchPresetsKeepTheirShapes) {
  const bench::ShapePreset m1 = bench::shape_preset("mamba-2.8b");
  ASSERT_TRUE(m1.mamba1);
  EXPECT_EQ(m1.mamba1->d_inner, 5120);
  EXPECT_EQ(m1.mamba1->d_state, 16);
  EXPECT_EQ(m1.mamba1->d_conv, 4);
  EXPECT_FALSE(m1.mamba2 || m1.lightning || m1.attention);

  const bench::ShapePreset m2 = bench::shape_preset("mamba2-2.7b");
  ASSERT_TRUE(m2.mamba2);
  EXPECT_EQ(m2.mamba2->nheads, 80);
  EXPECT_EQ(m2.mamba2->headdim, 64);
  EXPECT_EQ(m2.mamba2->d_state, 128);
  EXPECT_EQ(m2.mamba2->ngroups, 1);
  EXPECT_EQ(m2.mamba2->d_conv, 4);
  EXPECT_EQ(m2.mamba2->chunk_size, 256);
  EXPECT_FALSE(m2.mamba1 || m2.lightning || m2.attention);

  const bench::ShapePreset n = bench::shape_preset("nemotron-h-8b");
  ASSERT_TRUE(n.mamba2 && n.attention);
  EXPECT_EQ(n.mamba2->nheads, 128);
  EXPECT_EQ(n.mamba2->headdim, 64);
  EXPECT_EQ(n.mamba2->d_state, 128);
  EXPECT_EQ(n.mamba2->ngroups, 8);
  EXPECT_EQ(n.mamba2->d_conv, 4);
  EXPECT_EQ(n.mamba2->chunk_size, 256);
  EXPECT_EQ(n.attention->kv_heads, 8);
  EXPECT_EQ(n.attention->head_dim, 128);
  EXPECT_EQ(n.attention->page_size, 16);

  const bench::ShapePreset mm = bench::shape_preset("minimax-text-01");
  ASSERT_TRUE(mm.lightning);
  EXPECT_EQ(mm.lightning->nheads, 64);
  EXPECT_EQ(mm.lightning->key_dim, 128);
  EXPECT_EQ(mm.lightning->value_dim, 128);
  // New: MiniMax's softmax layers are benched too (8 KV heads of 128).
  ASSERT_TRUE(mm.attention);
  EXPECT_EQ(mm.attention->kv_heads, 8);
  EXPECT_EQ(mm.attention->head_dim, 128);
}

TEST(ModelRegistry, EveryModelPresetIsABenchPreset) {
  const auto names = bench::preset_names();
  const std::set<std::string> bench_names(names.begin(), names.end());
  for (const auto& m : model_preset_names()) {
    EXPECT_TRUE(bench_names.contains(m)) << m;
    const bench::ShapePreset p = bench::shape_preset(m);
    EXPECT_EQ(p.name, m);
    const ModelSpec spec = model_preset(m);
    EXPECT_EQ(p.mamba1.has_value(), spec.mamba.has_value()) << m;
    EXPECT_EQ(p.mamba2.has_value(), spec.mamba2.has_value()) << m;
    EXPECT_EQ(p.lightning.has_value(), spec.linear_attention.has_value()) << m;
    EXPECT_EQ(p.attention.has_value(), spec.attention.has_value()) << m;
    EXPECT_EQ(p.gated_delta_net.has_value(), spec.gated_delta_net.has_value()) << m;
    EXPECT_EQ(p.kda.has_value(), spec.kda.has_value()) << m;
    // Layers without a bench op (MLA) are listed, never dropped silently.
    EXPECT_EQ(p.skipped.size(), spec.mla ? 1u : 0u) << m;
  }
  EXPECT_TRUE(bench_names.contains("tiny"));
  // Qwen3-Next's GDN layers: 16 q/k heads, 32 value heads, 128-wide heads, a 4-wide conv
  // (its config.json: linear_num_key_heads, linear_num_value_heads, linear_key_head_dim,
  // linear_value_head_dim, linear_conv_kernel_dim).
  const bench::ShapePreset q = bench::shape_preset("Qwen3-Next-80B-A3B");
  EXPECT_TRUE(q.skipped.empty());
  ASSERT_TRUE(q.gated_delta_net);
  EXPECT_EQ(q.gated_delta_net->nheads, 16);
  EXPECT_EQ(q.gated_delta_net->v_heads, 32);
  EXPECT_EQ(q.gated_delta_net->key_dim, 128);
  EXPECT_EQ(q.gated_delta_net->value_dim, 128);
  EXPECT_EQ(q.gated_delta_net->d_conv, 4);
  EXPECT_TRUE(q.attention);
}

TEST(ModelRegistry, NamesMatchWhateverTheirCase) {
  EXPECT_EQ(find_model_preset("jamba-v0.1"), "Jamba-v0.1");
  EXPECT_EQ(find_model_preset("NEMOTRON-H-8B"), "Nemotron-H-8B");
  EXPECT_FALSE(find_model_preset("jamba-v0.2"));
  EXPECT_EQ(resolve_model("jamba-v0.1").name, "Jamba-v0.1");
  EXPECT_EQ(bench::shape_preset("Nemotron-H-8B").name, bench::shape_preset("nemotron-h-8b").name);
  EXPECT_EQ(bench::shape_preset("TINY").name, "tiny");
  EXPECT_THROW(bench::shape_preset("mamba-99b"), InputError);
  EXPECT_EQ(gpu_memory("H100", "test", "--gpu").name, "h100");
  EXPECT_EQ(gpu_memory("A100-80GB", "test", "--gpu").name, "a100-80gb");
  EXPECT_THROW(gpu_memory("H900", "test", "--gpu"), InputError);
  EXPECT_EQ(parse_dtype("BF16"), DType::bfloat16);
  EXPECT_EQ(parse_dtype("Float32"), DType::float32);
  EXPECT_FALSE(parse_dtype("bf17"));
}

TEST(ModelRegistry, CliTakesEitherSpelling) {
  const test::CliRun upper = test::run_ssmkit("bench --backend cpu --preset Nemotron-H-8B --list");
  const test::CliRun lower = test::run_ssmkit("bench --backend cpu --preset nemotron-h-8b --list");
  ASSERT_EQ(upper.exit_code, 0) << upper.output;
  ASSERT_EQ(lower.exit_code, 0) << lower.output;
  EXPECT_EQ(upper.output, lower.output);
  EXPECT_NE(upper.output.find("mamba_chunk_scan_combined/Nemotron-H-8B/"), std::string::npos)
      << upper.output;

  const test::CliRun budget = test::run_ssmkit("budget --model jamba-v0.1 --gpu H100 --context 4k");
  EXPECT_EQ(budget.exit_code, 0) << budget.output;
  EXPECT_NE(budget.output.find("== Jamba-v0.1"), std::string::npos) << budget.output;
  const test::CliRun dtype =
      test::run_ssmkit("budget --model Jamba-v0.1 --gpu h100 --kv-dtype FP16 --context 4k");
  EXPECT_EQ(dtype.exit_code, 0) << dtype.output;
}

// A scenario names its model and bench preset the same way.
TEST(ModelRegistry, ScenariosTakeEitherSpelling) {
  const test::TempDir dir;
  const std::string synthetic =
      "workload: {synthetic: {requests: 1, arrival_rate: 1, prompt: 8, output: 2}}\n";
  std::ofstream(dir / "s.yaml") << "model: jamba-v0.1\ncache: {memory: 1GiB}\n" << synthetic
                                << "bench: {preset: NEMOTRON-H-8B}\n";
  const Scenario s = load_scenario(dir / "s.yaml");
  EXPECT_EQ(resolve_model(s.model).name, "Jamba-v0.1");
  EXPECT_EQ(bench::shape_preset(s.bench.preset).name, "Nemotron-H-8B");
  std::ofstream(dir / "bad.yaml") << "model: jamba-v0.1\ncache: {memory: 1GiB}\n" << synthetic
                                  << "bench: {preset: nemotron-h-9b}\n";
  const InputError e = test::error_of([&] { load_scenario(dir / "bad.yaml"); });
  EXPECT_EQ(e.field(), "bench.preset") << e.what();
}

// Jamba's layers are Mamba1 and attention: its bench preset runs exactly their ops.
TEST(ModelRegistry, JambaRunsTheOpsOfItsLayers) {
  const test::CliRun r = test::run_ssmkit("bench --backend cpu --preset Jamba-v0.1 --list");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::set<std::string> ops;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("/Jamba-v0.1/") != std::string::npos) ops.insert(line.substr(0, line.find('/')));
  }
  EXPECT_EQ(ops, (std::set<std::string>{"causal_conv1d", "causal_conv1d_update", "selective_scan",
                                        "selective_state_update", "paged_kv_write",
                                        "paged_kv_gather"}))
      << r.output;
  // Kimi-Linear runs KDA (and its three convs, q and k and v all 32 x 128 wide) and MLA;
  // MLA has no bench op yet: shown as a skip.
  const test::CliRun kimi = test::run_ssmkit("bench --backend cpu --preset kimi-linear-48b-a3b --list");
  EXPECT_EQ(kimi.exit_code, 0) << kimi.output;
  EXPECT_NE(kimi.output.find("kda/Kimi-Linear-48B-A3B/B=1/T=2048/H=32/HV=32/K=128/V=128/bf16"),
            std::string::npos)
      << kimi.output;
  EXPECT_NE(kimi.output.find("kda_update/Kimi-Linear-48B-A3B/B=64/T=1/"), std::string::npos) << kimi.output;
  EXPECT_NE(kimi.output.find("causal_conv1d/Kimi-Linear-48B-A3B/B=1/D=4096/L=2048/W=4/bf16"),
            std::string::npos)
      << kimi.output;
  EXPECT_EQ(kimi.output.find("SKIP cpu Kimi-Linear-48B-A3B: kda"), std::string::npos) << kimi.output;
  EXPECT_NE(kimi.output.find("SKIP cpu Kimi-Linear-48B-A3B: mla (7 layers)"), std::string::npos)
      << kimi.output;
}

// Rows of runs from before the registry ("nemotron-h-8b") match today's ("Nemotron-H-8B").
TEST(ModelRegistry, BenchCompareMatchesRowsWhateverTheCase) {
  bench::BenchRun base, next;
  base.rows = {{"causal_conv1d/nemotron-h-8b/B=1/D=10240/L=2048/W=4/bf16", "cuda events", 2e-6,
                1.9e-6, 2.1e-6, 0.5}};
  next.rows = {{"causal_conv1d/Nemotron-H-8B/B=1/D=10240/L=2048/W=4/bf16", "cuda events", 1e-6,
                0.9e-6, 1.1e-6, 0.5}};
  const bench::RunComparison c = bench::compare_runs(base, next, 0.02);
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_DOUBLE_EQ(c.rows[0].speedup, 2.0);
  EXPECT_TRUE(c.only_base.empty());
  EXPECT_TRUE(c.only_new.empty());
}

}  // namespace
}  // namespace ssmkit
