// Scenario YAML: the shipped examples load, defaults, overrides, every kind of bad input
// as an InputError at file:line:column, the cache sizing from the memory budget, and a
// scenario replay with its checks.
#include <gtest/gtest.h>

#include <fstream>

#include "ssmkit/error.hpp"
#include "ssmkit/scenario/scenario.hpp"
#include "ssmkit/scenario/scenario_replay.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

const std::filesystem::path kScenarios = std::filesystem::path(SSMKIT_SOURCE_DIR) / "scenarios";
constexpr std::uint64_t kGiB = 1ull << 30, kMiB = 1ull << 20;

std::filesystem::path write(const test::TempDir& dir, const std::string& name,
                            const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path;
}

const std::string kMinimal =
    "model: mamba2-2.7b\n"
    "cache:\n"
    "  memory: 60GiB\n"
    "workload:\n"
    "  synthetic: {requests: 10, arrival_rate: 2, prompt: 100, output: 10}\n";

TEST(ScenarioSchema, ShippedScenariosLoad) {
  const Scenario m = load_scenario(kScenarios / "mamba2-2.7b-azure-conv.yaml");
  EXPECT_EQ(m.name, "mamba2-2.7b-azure-conv");
  EXPECT_EQ(m.model, "mamba2-2.7b");
  // floor(0.9 x 81559 MiB) - 8 GiB, the H100's driver-reported memory in the GPU table.
  EXPECT_EQ(m.cache.memory.resolve(), 76968728985ull - 8 * kGiB);
  EXPECT_EQ(m.cache.settings.max_requests, 256);
  EXPECT_EQ(m.cache.settings.ssm_dtype, DType::float32);
  ASSERT_TRUE(m.workload.trace.has_value());
  EXPECT_TRUE(std::filesystem::exists(m.workload.trace->path)) << m.workload.trace->path;
  EXPECT_EQ(m.workload.trace->path.filename(), "AzureLLMInferenceTrace_conv.csv");
  EXPECT_EQ(m.checks.max_preemptions, 0);
  EXPECT_DOUBLE_EQ(m.scheduler.step_time.base_s, 0.010);

  const Scenario j = load_scenario(kScenarios / "jamba-v0.1-azure-conv.yaml");
  EXPECT_EQ(j.model, "Jamba-v0.1");
  EXPECT_EQ(j.cache.settings.tensor_parallel, 2);
  EXPECT_EQ(j.cache.settings.max_seq_len, 32768);
  EXPECT_EQ(j.cache.memory.resolve(), 76968728985ull - 52 * kGiB);

  const Scenario s = load_scenario(kScenarios / "synthetic-jamba-tight.yaml");
  ASSERT_TRUE(s.workload.synthetic.has_value());
  EXPECT_EQ(s.workload.synthetic->seed, 7u);
  EXPECT_EQ(s.workload.synthetic->prompt.kind, LengthDistribution::Kind::lognormal);
  EXPECT_DOUBLE_EQ(s.workload.synthetic->prompt.sigma, 0.8);
  EXPECT_EQ(s.workload.synthetic->output.max, 512);
  EXPECT_TRUE(s.checks.invariants);
  EXPECT_EQ(s.scheduler.max_running, 16);
}

TEST(ScenarioSchema, DefaultsFillWhatIsLeftOut) {
  test::TempDir dir;
  const Scenario s = load_scenario(write(dir, "minimal.yaml", kMinimal));
  EXPECT_EQ(s.name, "minimal");
  EXPECT_EQ(s.cache.settings.page_size, 16);
  EXPECT_EQ(s.cache.settings.kv_dtype, DType::bfloat16);
  EXPECT_EQ(s.cache.settings.conv_dtype, DType::bfloat16);
  EXPECT_EQ(s.cache.settings.ssm_dtype, DType::float32);
  EXPECT_EQ(s.cache.settings.max_requests, 256);
  EXPECT_EQ(s.cache.settings.tensor_parallel, 1);
  EXPECT_EQ(s.scheduler.token_budget, 8192);
  EXPECT_EQ(s.scheduler.max_running, 0);
  EXPECT_EQ(s.backend, "cpu");
  EXPECT_FALSE(s.checks.invariants);
  EXPECT_EQ(s.workload.synthetic->prompt.kind, LengthDistribution::Kind::fixed);
  EXPECT_EQ(s.workload.synthetic->prompt.value, 100);
}

struct BadCase {
  std::string yaml;
  std::string where;  // ":line:column" after the file name
  std::string field;
};

TEST(ScenarioSchema, BadInputIsAnInputErrorAtLineAndColumn) {
  const std::string synthetic = "workload: {synthetic: {requests: 1, arrival_rate: 1, prompt: 1, output: 1}}\n";
  const std::string head = "model: mamba2-2.7b\ncache: {memory: 1GiB}\n";
  const BadCase cases[] = {
      {"modle: mamba2-2.7b\n", ":1:1", "modle"},
      {head + synthetic + "backend: tpu\n", ":4:10", "backend"},
      {"model: mamba2-2.7b\ncache:\n  page_size: sixteen\n  memory: 1GiB\n" + synthetic, ":3:14",
       "cache.page_size"},
      {"model: mamba2-2.7b\ncache:\n  page_size: 0\n  memory: 1GiB\n" + synthetic, ":3:14",
       "cache.page_size"},
      {"model: mamba2-2.7b\ncache:\n  kv_dtype: int8\n  memory: 1GiB\n" + synthetic, ":3:13",
       "cache.kv_dtype"},
      {"model: mamba2-2.7b\ncache:\n  memory: 80 GiBs\n" + synthetic, ":3:11", "cache.memory"},
      {"model: mamba2-2.7b\ncache:\n  memory: {gpu: h900, utilization: 0.5}\n" + synthetic, ":3:17",
       "cache.memory.gpu"},
      {"model: mamba2-2.7b\ncache:\n  memory: {gpu: h100, utilization: 1.5}\n" + synthetic, ":3:36",
       "cache.memory.utilization"},
      {"model: mamba2-2.7b\ncache:\n  memory: {utilization: 0.5}\n" + synthetic, ":3:11",
       "cache.memory"},
      {"model: mamba2-2.7b\ncache:\n  memory: {gpu: h100, device: 80GiB}\n" + synthetic, ":3:11",
       "cache.memory"},
      {"model: mamba2-2.7b\ncache:\n  memory: {device: 80GiB, reserve: 72GiB}\n" + synthetic,
       ":3:36", "cache.memory.reserve"},
      {"model: mamba2-2.7b\ncache:\n  memory: 0GiB\n" + synthetic, ":3:11", "cache.memory"},
      {"model: mamba2-2.7b\ncache:\n  memroy: 1GiB\n", ":3:3", "cache.memroy"},
      {head, ":1:1", "workload"},
      {"cache: {memory: 1GiB}\n" + synthetic, ":1:1", "model"},
      {head + "workload:\n  trace: {path: t.csv}\n  synthetic: {requests: 1}\n", ":4:3", "workload"},
      {head + "workload:\n  synthetic: {requests: 5, arrival_rate: 0, prompt: 1, output: 1}\n",
       ":4:42", "workload.synthetic.arrival_rate"},
      // A subnormal rate: infinite gaps, a simulated time of inf and a NaN mean delay.
      {head + "workload:\n  synthetic: {requests: 5, arrival_rate: 1e-320, prompt: 1, output: 1}\n",
       ":4:42", "workload.synthetic.arrival_rate"},
      {head + "workload:\n  synthetic:\n    requests: 5\n    arrival_rate: 1\n"
              "    prompt: {distribution: normal, mean: 5}\n    output: 1\n",
       ":7:28", "workload.synthetic.prompt.distribution"},
      {head + "workload:\n  synthetic:\n    requests: 5\n    arrival_rate: 1\n"
              "    prompt: {distribution: uniform, min: 10, max: 5}\n    output: 1\n",
       ":7:51", "workload.synthetic.prompt.max"},
      {head + "workload:\n  synthetic:\n    requests: 5\n    arrival_rate: 1\n"
              "    prompt: {distribution: lognormal, median: 5, sigma: 1, mean: 3}\n    output: 1\n",
       ":7:60", "workload.synthetic.prompt.mean"},
      {head + "workload:\n  synthetic:\n    requests: 5\n    arrival_rate: 1\n    prompt: [1, 2]\n"
              "    output: 1\n",
       ":7:13", "workload.synthetic.prompt"},
      {head + "workload:\n  trace: {path: t.csv, limit: -3}\n", ":4:31", "workload.trace.limit"},
      {head + synthetic + "scheduler: {step_time: {base_ms: 0, per_token_us: 0}}\n", ":4:24",
       "scheduler.step_time"},
      {head + synthetic + "scheduler: {token_budget: 1.5}\n", ":4:27", "scheduler.token_budget"},
      {head + synthetic + "checks: {max_preemptions: -1}\n", ":4:27", "checks.max_preemptions"},
      // Sizes whose products would leave 64 bits (a 2^46-slot cache hung building its slots).
      {"model: mamba2-2.7b\ncache: {memory: 1GiB, max_sequences: 70368744177664}\n" + synthetic, ":2:38",
       "cache.max_sequences"},
      {"model: mamba2-2.7b\ncache: {memory: 1GiB, page_size: 1125899906842625}\n" + synthetic, ":2:34",
       "cache.page_size"},
      {"model: mamba2-2.7b\ncache: {memory: 1GiB, max_seq_len: 4294967297}\n" + synthetic, ":2:36",
       "cache.max_seq_len"},
      {"model: mamba2-2.7b\ncache: {memory: 1GiB, tensor_parallel: 65537}\n" + synthetic, ":2:40",
       "cache.tensor_parallel"},
      {head + "workload:\n  trace: {path: t.csv, speedup: 1e-320}\n", ":4:33", "workload.trace.speedup"},
      {head + "workload:\n  synthetic: {requests: 16777217, arrival_rate: 1, prompt: 1, output: 1}\n",
       ":4:25", "workload.synthetic.requests"},
      {head + "workload: {synthetic: {requests: 1, arrival_rate: 1, prompt: 1, output: 9223372036854775807}}\n",
       ":3:73", "workload.synthetic.output"},
      {head + "workload: {synthetic: {requests: 1, arrival_rate: 1, prompt: {distribution: lognormal, "
              "median: 1e300, sigma: 1}, output: 1}}\n",
       ":3:96", "workload.synthetic.prompt.median"},
      {head + synthetic + "checks: {invariants: maybe}\n", ":4:22", "checks.invariants"},
      {head + synthetic + "checks: {fast: true}\n", ":4:10", "checks.fast"},
      {head + synthetic + "bench: {repetitions: 0}\n", ":4:22", "bench.repetitions"},
      {head + synthetic + "bench: {preset: huge}\n", ":4:17", "bench.preset"},
      {head + synthetic + "bench: {ops: [causal_conv1d, conv]}\n", ":4:30", "bench.ops"},
      {head + synthetic + "bench: {seqlen: [64, 0]}\n", ":4:22", "bench.seqlen"},
      {head + synthetic + "bench: {batch: 8}\n", ":4:16", "bench.batch"},
      {head + synthetic + "validate: {ops: [scan]}\n", ":4:18", "validate.ops"},
      {head + synthetic + "validate: {suite: [a]}\n", ":4:19", "validate.suite"},
      {head + synthetic + "validate: {filter: x}\n", ":4:12", "validate.filter"},
      // Repeated keys: the parser keeps both, a lookup sees the first (Jamba replayed here).
      {"model: Jamba-v0.1\nmodel: mamba2-2.7b\ncache: {memory: 1GiB}\n" + synthetic, ":2:1", "model"},
      {"model: [a, b\n", ":2:1", ""},
      {"- just\n- a list\n", ":1:1", "(document)"},
  };
  test::TempDir dir;
  for (const BadCase& c : cases) {
    const auto path = write(dir, "bad.yaml", c.yaml);
    try {
      load_scenario(path);
      ADD_FAILURE() << "accepted:\n" << c.yaml;
    } catch (const InputError& e) {
      EXPECT_EQ(e.where(), path.string() + c.where) << e.what() << "\nfor:\n" << c.yaml;
      EXPECT_EQ(e.field(), c.field) << e.what() << "\nfor:\n" << c.yaml;
    }
  }
}

TEST(ScenarioSchema, ADirectoryIsNotAScenario) {
  test::TempDir dir;
  try {
    load_scenario(dir.path());
    ADD_FAILURE() << "a directory loaded as a scenario";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory (expected a YAML file)"), std::string::npos) << e.what();
  }
}

TEST(ScenarioSchema, OverridesReplaceFieldsAndAreCheckedTheSame) {
  test::TempDir dir;
  const auto path = write(dir, "s.yaml", kMinimal);
  Scenario s = load_scenario(path, {{"cache.page_size", "32"},
                                    {"cache.memory", "{gpu: h100, utilization: 0.5}", true},
                                    {"scheduler.step_time.base_ms", "2"}});
  EXPECT_EQ(s.cache.settings.page_size, 32);
  EXPECT_EQ(s.cache.memory.gpu, "h100");
  EXPECT_EQ(s.cache.memory.resolve(), 81559 * kMiB / 2);  // the presets' GPU table
  EXPECT_DOUBLE_EQ(s.scheduler.step_time.base_s, 0.002);
  s = load_scenario(path, {{"cache.memory", "{device: 80GiB, reserve: 8GiB}", true}});
  EXPECT_EQ(s.cache.memory.resolve(), 77309411328ull - 8 * kGiB);  // floor(0.9 x 80 GiB) - 8 GiB
  try {
    load_scenario(path, {{"cache.page_size", "big"}});
    ADD_FAILURE() << "accepted page_size big";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "cache.page_size");
    EXPECT_NE(std::string(e.what()).find("big"), std::string::npos);
  }
  EXPECT_THROW(load_scenario(path, {{"model.name", "x"}}), InputError);  // model is a string

  s = scenario_from_overrides({{"model", "Jamba-v0.1"},
                               {"cache.memory", "2GiB"},
                               {"workload.trace.path", "/tmp/t.csv"},
                               {"workload.trace.limit", "5"}},
                              "command line");
  EXPECT_EQ(s.model, "Jamba-v0.1");
  EXPECT_EQ(s.workload.trace->path, "/tmp/t.csv");
  EXPECT_EQ(s.workload.trace->selection.limit, 5);
  EXPECT_THROW(scenario_from_overrides({{"model", "Jamba-v0.1"}}, "command line"), InputError);
}

TEST(ScenarioSchema, ConfigJsonModelsResolveAgainstTheScenario) {
  // A small Mamba1 model in HF's config.json format, next to the scenario.
  test::TempDir dir;
  std::filesystem::create_directories(dir / "cfg");
  std::ofstream(dir / "cfg" / "config.json")
      << R"({"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 3,
             "intermediate_size": 128, "state_size": 8, "conv_kernel": 4})";
  const std::string rest = "cache: {memory: 1GiB}\n"
                           "workload: {synthetic: {requests: 1, arrival_rate: 1, prompt: 1, output: 1}}\n";
  for (const char* model : {"cfg/config.json", "cfg"}) {
    const Scenario s = load_scenario(write(dir, "s.yaml", std::string("model: ") + model + "\n" + rest));
    EXPECT_EQ(s.model, (dir / model).string());
    EXPECT_EQ(scenario_model(s).count(LayerKind::mamba), 3) << model;
  }
  // Neither a preset nor a file: the scenario's line names it, not a later lookup.
  try {
    load_scenario(write(dir, "s.yaml", "model: nope/config.json\n" + rest));
    ADD_FAILURE() << "a missing config.json was accepted";
  } catch (const InputError& e) {
    EXPECT_TRUE(e.where().ends_with("s.yaml:1:8")) << e.what();
    EXPECT_EQ(e.field(), "model");
  }
}

TEST(ScenarioCache, StatesTakeTheirSlotsAndPagesTheRest) {
  // Jamba-v0.1 (ai21labs config): 28 Mamba layers of 8192 channels, d_state 16, conv 4;
  // 4 attention layers, 8 KV heads of 128. Per sequence: 28 * (8192*4*2 + 8192*16*4) bytes
  // = 16,515,072 (bf16 conv, float32 SSM). Per 16-token page: 4 * 2 * 8 * 128 * 2 * 16 =
  // 262,144 bytes. 512 MiB less 16 sequences' states leaves 272,629,760 bytes = 1040 pages.
  test::TempDir dir;
  const auto path = write(dir, "j.yaml",
                          "model: Jamba-v0.1\ncache: {memory: 512MiB, max_sequences: 16}\n"
                          "workload: {synthetic: {requests: 1, arrival_rate: 1, prompt: 1, output: 1}}\n");
  const Scenario s = load_scenario(path);
  const HybridCacheConfig c = scenario_cache_config(s, scenario_model(s));
  ASSERT_TRUE(c.attention && c.mamba);
  EXPECT_EQ(c.max_requests, 16);
  EXPECT_EQ(c.mamba->bytes_per_sequence(), 16515072u);
  EXPECT_EQ(c.attention->bytes_per_page(), 262144u);
  EXPECT_EQ(c.attention->num_pages(), 1040);

  // Mamba2-2.7B: 162.6 MiB of state per sequence; 8 of them exceed 1 GiB.
  const Scenario small = load_scenario(
      write(dir, "m.yaml",
            "model: mamba2-2.7b\ncache: {memory: 1GiB, max_sequences: 8}\n"
            "workload: {synthetic: {requests: 1, arrival_rate: 1, prompt: 1, output: 1}}\n"));
  try {
    scenario_cache_config(small, scenario_model(small));
    ADD_FAILURE() << "8 Mamba2-2.7B states fit in 1 GiB?";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "cache.memory");
  }
}

TEST(ScenarioReplay, TightSyntheticScenarioPreemptsAndPassesItsChecks) {
  const ScenarioReplay r = replay_scenario(load_scenario(kScenarios / "synthetic-jamba-tight.yaml"));
  EXPECT_EQ(r.result.totals.finished, 400);
  EXPECT_GT(r.result.totals.preemptions, 0);
  EXPECT_EQ(r.result.totals.peak_slots, 16);
  EXPECT_LE(r.result.totals.peak_memory, r.memory_budget);
  ASSERT_EQ(r.checks.size(), 2u);
  EXPECT_EQ(r.checks[0].name, "invariants");
  for (const CheckResult& c : r.checks) EXPECT_TRUE(c.passed) << c.name << ": " << c.detail;
}

TEST(ScenarioReplay, WholeAzureConversationTraceThroughBothShippedScenarios) {
  // Token sums from the CSV read independently (Python's csv module). Each request's
  // prefill yields its first token, so decode tokens = outputs - requests. Timing is for
  // reports (README), not asserted here.
  for (const char* file : {"mamba2-2.7b-azure-conv.yaml", "jamba-v0.1-azure-conv.yaml"}) {
    const ScenarioReplay r = replay_scenario(load_scenario(kScenarios / file));
    const ReplayTotals& t = r.result.totals;
    EXPECT_EQ(t.requests, 19366) << file;
    EXPECT_EQ(t.finished, 19366) << file;
    EXPECT_EQ(t.prefill_tokens - t.recomputed_tokens, 22361870) << file;
    EXPECT_EQ(t.generated_tokens, 4088665) << file;
    EXPECT_EQ(t.decode_tokens, 4088665 - 19366) << file;
    EXPECT_LE(t.peak_slots, 256) << file;
    EXPECT_LE(t.peak_memory, r.memory_budget) << file;
    for (const CheckResult& c : r.checks) EXPECT_TRUE(c.passed) << file << " " << c.name;
  }
}

// cache.max_seq_len holds for a model without attention too (its state caches have no
// length limit of their own): longer requests are rejected and counted, as with a KV pool.
TEST(ScenarioReplay, MaxSeqLenRejectsLongRequestsOfStateOnlyModels) {
  test::TempDir dir;
  const std::string head = "model: mamba2-2.7b\ncache: {memory: 1GiB, max_sequences: 4, max_seq_len: 1000}\n";
  const ScenarioReplay longer = replay_scenario(load_scenario(
      write(dir, "long.yaml", head + "workload: {synthetic: {requests: 5, arrival_rate: 1, prompt: 10, output: 992}}\n")));
  EXPECT_EQ(longer.result.totals.rejected, 5);  // 10 + 992 - 1 = 1001 tokens
  EXPECT_EQ(longer.result.totals.finished, 0);
  const ScenarioReplay fits = replay_scenario(load_scenario(
      write(dir, "fits.yaml", head + "workload: {synthetic: {requests: 5, arrival_rate: 1, prompt: 10, output: 991}}\n")));
  EXPECT_EQ(fits.result.totals.rejected, 0);
  EXPECT_EQ(fits.result.totals.finished, 5);
}

TEST(ScenarioReplay, ChecksCompareTotalsWithTheirLimits) {
  ReplayTotals t;
  t.requests = 10, t.finished = 9, t.rejected = 1, t.preemptions = 3;
  t.queue_delay.p99_s = 2.5;
  ScenarioChecks c;
  c.all_finished = true;
  c.max_preemptions = 3;
  c.max_rejected = 0;
  c.max_queue_delay_p99_s = 2.0;
  const auto r = evaluate_checks(c, t);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_FALSE(r[0].passed);  // 9 of 10
  EXPECT_TRUE(r[1].passed);   // 3 <= 3
  EXPECT_FALSE(r[2].passed);  // 1 > 0
  EXPECT_FALSE(r[3].passed);  // 2.5 > 2.0
  EXPECT_TRUE(evaluate_checks({}, t).empty());
}

}  // namespace
}  // namespace ssmkit
