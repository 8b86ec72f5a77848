// End to end: `ssmkit budget`'s exit status, messages and report files. Expected numbers
// are written from the config values and the GPU table's nvidia-smi figures.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "cli_util.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using RunResult = test::CliRun;
using test::quoted;
using test::run_ssmkit;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr std::size_t kH100 = 81559ull * 1024 * 1024;  // nvidia-smi memory.total
constexpr std::size_t kJambaState = 8192ull * 4 * 28 * 2 + 8192ull * 16 * 4 * 28;
constexpr std::size_t kJambaKvPerToken = 2 * 4 * 8 * 128 * 2;
constexpr std::size_t kMamba2State = (5120ull + 2 * 128) * 4 * 64 * 2 + 80ull * 64 * 128 * 4 * 64;

const nlohmann::json& model_named(const nlohmann::json& report, const std::string& name) {
  for (const auto& m : report.at("models")) {
    if (m.at("name") == name) return m;
  }
  throw std::runtime_error("no model " + name + " in the report");
}

TEST(BudgetCli, ReportsEveryFormat) {
  const test::TempDir dir;
  const RunResult r = run_ssmkit("budget --model Jamba-v0.1 --model mamba2-2.7b --gpu h100 "
                                 "--context 1k,128k --json " + quoted(dir / "b.json") +
                                 " --csv " + quoted(dir / "b.csv") + " --svg " +
                                 quoted(dir / "b.svg"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Jamba-v0.1"), std::string::npos);
  EXPECT_NE(r.output.find("W-1"), std::string::npos) << "the table names the conv convention";

  const auto report = nlohmann::json::parse(read_file(dir / "b.json"));
  const auto& settings = report.at("settings");
  const std::size_t budget = kH100 * 9 / 10;  // floor(0.9 * 85520809984) = 76968728985
  EXPECT_EQ(settings.at("budget").at("bytes").get<std::size_t>(), budget);
  EXPECT_EQ(settings.at("budget").at("device_memory_bytes").get<std::size_t>(), kH100);
  EXPECT_EQ(settings.at("budget").at("gpu"), "h100");
  EXPECT_DOUBLE_EQ(settings.at("budget").at("utilization").get<double>(), 0.9);
  EXPECT_EQ(settings.at("dtypes").at("conv"), "bfloat16");
  EXPECT_EQ(settings.at("dtypes").at("ssm_state"), "float32");
  EXPECT_EQ(settings.at("dtypes").at("kv"), "bfloat16");
  EXPECT_EQ(settings.at("page_size"), 16);
  EXPECT_EQ(settings.at("tensor_parallel"), 1);
  EXPECT_NE(settings.at("conv_window").get<std::string>().find("W-1"), std::string::npos);
  EXPECT_EQ(settings.at("contexts"), nlohmann::json({1024, 131072}));

  const auto& jamba = model_named(report, "Jamba-v0.1");
  EXPECT_EQ(jamba.at("state_bytes_per_sequence").get<std::size_t>(), kJambaState);
  EXPECT_EQ(jamba.at("kv_bytes_per_token").get<std::size_t>(), kJambaKvPerToken);
  for (const auto& kind : jamba.at("kinds")) {
    if (kind.at("kind") == "mamba") {
      EXPECT_EQ(kind.at("layers"), 28);
      EXPECT_EQ(kind.at("conv_bytes_per_sequence").get<std::size_t>(), 8192u * 4 * 28 * 2);
      EXPECT_EQ(kind.at("recurrent_state_bytes_per_sequence").get<std::size_t>(), 8192u * 16 * 4 * 28);
      EXPECT_EQ(kind.at("conv_bytes_per_layer").get<std::size_t>(), 8192u * 4 * 2);
    } else {
      EXPECT_EQ(kind.at("kind"), "attention");
      EXPECT_EQ(kind.at("kv_bytes_per_token_per_layer").get<std::size_t>(), 2u * 8 * 128 * 2);
    }
  }
  const auto& at_1k = jamba.at("contexts").at(0);
  EXPECT_EQ(at_1k.at("pages_per_sequence"), 64);
  const std::size_t page = 16 * kJambaKvPerToken;
  EXPECT_EQ(at_1k.at("max_sequences").get<std::size_t>(), (budget - page) / (kJambaState + 64 * page));
  const auto& mamba2 = model_named(report, "mamba2-2.7b");
  EXPECT_EQ(mamba2.at("state_bytes_per_sequence").get<std::size_t>(), kMamba2State);
  EXPECT_EQ(mamba2.at("kv_bytes_per_token"), 0);
  EXPECT_EQ(mamba2.at("contexts").at(1).at("max_sequences").get<std::size_t>(), budget / kMamba2State);

  // CSV: a header and one row per model and context, the same numbers.
  std::istringstream csv(read_file(dir / "b.csv"));
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("model,context,pages_per_sequence,bytes_per_sequence,max_sequences,", 0), 0u);
  std::vector<std::string> rows;
  while (std::getline(csv, line)) rows.push_back(line);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].rfind("Jamba-v0.1,1024,64," + std::to_string(kJambaState + 64 * page) + ",", 0), 0u)
      << rows[0];
  EXPECT_EQ(rows[3].rfind("mamba2-2.7b,131072,0," + std::to_string(kMamba2State) + ",", 0), 0u)
      << rows[3];
}

// Every opened tag is closed in order; <?...?>, comments and self-closing tags are skipped.
bool tags_balance(const std::string& xml, std::string* problem) {
  std::vector<std::string> open;
  const std::regex tag(R"(<(/?)([A-Za-z][\w:-]*)[^<>]*?(/?)>)");
  std::size_t checked = 0;
  for (std::sregex_iterator it(xml.begin(), xml.end(), tag), end; it != end; ++it) {
    const auto& m = *it;
    const std::string between = xml.substr(checked, m.position() - checked);
    if (between.find('<') != std::string::npos && between.find("<?") == std::string::npos) {
      *problem = "stray '<' before offset " + std::to_string(m.position());
      return false;
    }
    checked = m.position() + m.length();
    if (m[3] == "/") continue;
    if (m[1] == "/") {
      if (open.empty() || open.back() != m[2]) {
        *problem = "</" + m[2].str() + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">");
        return false;
      }
      open.pop_back();
    } else {
      open.push_back(m[2]);
    }
  }
  if (!open.empty()) *problem = "<" + open.back() + "> is never closed";
  return open.empty();
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

TEST(BudgetCli, SvgChartIsWellFormedWithOneLinePerModel) {
  const test::TempDir dir;
  // A config.json path with characters XML must escape, as a third model.
  const auto config = dir / "a&b.json";
  std::ofstream(config) << R"({"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 16,
      "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072})";
  const RunResult r = run_ssmkit("budget --model Nemotron-H-8B --model MiniMax-Text-01 --model " +
                                 quoted(config) + " --svg " + quoted(dir / "c.svg"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string svg = read_file(dir / "c.svg");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(count(svg, "<svg "), 1u);
  EXPECT_EQ(count(svg, "<polyline "), 3u);
  std::string problem;
  EXPECT_TRUE(tags_balance(svg, &problem)) << problem;
  EXPECT_EQ(svg.find("a&b"), std::string::npos) << "names must be escaped";
  EXPECT_NE(svg.find("a&amp;b"), std::string::npos);
  EXPECT_NE(svg.find("Nemotron-H-8B"), std::string::npos);
  EXPECT_NE(svg.find("log scale"), std::string::npos);
  // Five default contexts: five points on each line.
  const std::regex polyline(R"re(<polyline [^>]*points="([^"]*)")re");
  for (std::sregex_iterator it(svg.begin(), svg.end(), polyline), end; it != end; ++it) {
    EXPECT_EQ(count((*it)[1].str(), ","), 5u) << (*it)[1];
  }
}

TEST(BudgetCli, BudgetFromGpuMemUtilizationAndReserve) {
  const test::TempDir dir;
  RunResult r = run_ssmkit("budget --model mamba-130m --gpu-mem 80GiB --utilization 0.5 --json " +
                           quoted(dir / "a.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto report = nlohmann::json::parse(read_file(dir / "a.json"));
  EXPECT_EQ(report.at("settings").at("budget").at("bytes").get<std::size_t>(), 40ull << 30);
  EXPECT_FALSE(report.at("settings").at("budget").contains("gpu"));

  r = run_ssmkit("budget --model mamba-130m --gpu h200 --utilization 1 --reserve 20GiB --json " +
                 quoted(dir / "b.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  report = nlohmann::json::parse(read_file(dir / "b.json"));
  EXPECT_EQ(report.at("settings").at("budget").at("bytes").get<std::size_t>(),
            143771ull * 1024 * 1024 - (20ull << 30));
  EXPECT_EQ(report.at("settings").at("budget").at("reserve_bytes").get<std::size_t>(), 20ull << 30);
}

TEST(BudgetCli, TensorParallelAndDtypes) {
  const test::TempDir dir;
  const RunResult r = run_ssmkit("budget --model Nemotron-H-8B --tp 8 --kv-dtype float32 "
                                 "--conv-dtype float32 --state-dtype bf16 --page-size 32 --json " +
                                 quoted(dir / "t.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto report = nlohmann::json::parse(read_file(dir / "t.json"));
  const auto& m = model_named(report, "Nemotron-H-8B");
  // One rank: 1 of 8 KV heads; 16 Mamba heads and 1 group; float32 KV and conv, bf16 state.
  EXPECT_EQ(m.at("kv_bytes_per_token").get<std::size_t>(), 2u * 4 * 1 * 128 * 4);
  EXPECT_EQ(m.at("kv_bytes_per_page").get<std::size_t>(), 32u * 2 * 4 * 1 * 128 * 4);
  EXPECT_EQ(m.at("state_bytes_per_sequence").get<std::size_t>(),
            (1024u + 2 * 128) * 4 * 24 * 4 + 16u * 64 * 128 * 2 * 24);
  EXPECT_EQ(report.at("settings").at("dtypes").at("ssm_state"), "bfloat16");
  EXPECT_EQ(report.at("settings").at("tensor_parallel"), 8);
}

TEST(BudgetCli, ListsOfDegreesAndDtypesGiveARowEach) {
  // 2 degrees x 2 state dtypes = 4 rows per model, each at 2 contexts. Nemotron-H-8B at TP 2
  // with a bfloat16 state: per layer W = 4 conv columns of (8192 + 2 * 8 * 128) / 2 = 5120
  // channels in bfloat16 and a (64, 64, 128) bfloat16 state, 24 Mamba2 layers.
  const test::TempDir dir;
  const RunResult r = run_ssmkit("budget --model Nemotron-H-8B --state-dtype float32,bfloat16 --tp 1,2 "
                                 "--context 1k,16k --json " + quoted(dir / "l.json") + " --csv " +
                                 quoted(dir / "l.csv") + " --svg " + quoted(dir / "l.svg"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Nemotron-H-8B (tp 2, state bfloat16, conv bfloat16, kv bfloat16)"), std::string::npos)
      << r.output;
  const auto report = nlohmann::ordered_json::parse(read_file(dir / "l.json"));
  ASSERT_EQ(report.at("models").size(), 4u);
  const auto& last = report.at("models").at(3);
  EXPECT_EQ(last.at("tensor_parallel"), 2);
  EXPECT_EQ(last.at("dtypes").at("ssm_state"), "bfloat16");
  EXPECT_EQ(last.at("state_bytes_per_sequence").get<std::size_t>(), 24u * (5120 * 4 * 2 + 64 * 64 * 128 * 2));
  // The JSON rows and the CSV lines: the same columns, one per row and context.
  const auto& rows = report.at("rows");
  ASSERT_EQ(rows.size(), 8u);
  std::string header;
  for (const auto& c : report.at("columns")) header += (header.empty() ? "" : ",") + c.get<std::string>();
  std::string keys;
  for (const auto& [k, v] : rows.at(0).items()) keys += (keys.empty() ? "" : ",") + k;
  EXPECT_EQ(keys, header);
  const std::string csv = read_file(dir / "l.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), header);
  EXPECT_EQ(count(csv, "\n"), 9u);
  EXPECT_EQ(rows.at(7).at("state_dtype"), "bfloat16");
  EXPECT_EQ(rows.at(7).at("tensor_parallel"), 2);
  EXPECT_EQ(rows.at(7).at("beyond_max_position_embeddings"), true);  // 16k > 8192
  // The SVG: a line per row, 16k drawn as an open circle, the GPU and both dtypes in the title.
  const std::string svg = read_file(dir / "l.svg");
  EXPECT_EQ(count(svg, "<polyline "), 4u);
  EXPECT_NE(svg.find("Max concurrent sequences, h100"), std::string::npos);
  EXPECT_NE(svg.find("tp 1,2; state float32,bfloat16, conv bfloat16, kv bfloat16"), std::string::npos);
  EXPECT_NE(svg.find("fill=\"white\""), std::string::npos);
}

struct BadInput {
  std::string args;
  std::string mentions;  // the flag, file or key the message must name
};

class BudgetCliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(BudgetCliBadInput, ExitsTwoNamingTheProblem) {
  const RunResult r = run_ssmkit("budget " + GetParam().args);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(GetParam().mentions), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(
    Flags, BudgetCliBadInput,
    ::testing::Values(BadInput{"--model Jamba-v0.1 --gpu-mem 80XB", "--gpu-mem"},
                      BadInput{"--model Jamba-v0.1 --gpu-mem 0", "--gpu-mem"},
                      BadInput{"--model Jamba-v0.1 --gpu h300", "--gpu"},
                      BadInput{"--model Jamba-v0.1 --gpu h100 --gpu-mem 80GiB", "--gpu"},
                      BadInput{"--model Jamba-v0.1 --utilization 1.5", "--utilization"},
                      BadInput{"--model Jamba-v0.1 --utilization abc", "--utilization"},
                      BadInput{"--model Jamba-v0.1 --reserve 100GiB", "--reserve"},
                      BadInput{"--model Jamba-v0.1 --gpu-mem 1B", "--gpu-mem/--utilization: at least one byte"},
                      BadInput{"--model Jamba-v0.1 --utilization 1e-300", "--utilization: at least one byte"},
                      BadInput{"--model Jamba-v0.1 --tp 0", "--tp"},
                      BadInput{"--model Jamba-v0.1 --tp 3", "attention.num_heads"},
                      BadInput{"--model Jamba-v0.1 --tp 65537", "--tp: 1 to 65536 ranks"},
                      BadInput{"--model Jamba-v0.1 --tp 99999999999999999999", "--tp: 1 to 65536 ranks"},
                      BadInput{"--model Jamba-v0.1 --page-size 0", "--page-size"},
                      BadInput{"--model Jamba-v0.1 --kv-dtype int8", "--kv-dtype"},
                      BadInput{"--model Jamba-v0.1 --state-dtype int32", "--state-dtype"},
                      BadInput{"--model Jamba-v0.1 --context 1k,,8k", "--context"},
                      BadInput{"--model Jamba-v0.1 --context 0", "--context"},
                      // Past these bounds bytes per sequence leave 64 bits (they wrapped to
                      // a plausible wrong answer with exit 0).
                      BadInput{"--model Jamba-v0.1 --context 1073741824M", "--context"},
                      BadInput{"--model Jamba-v0.1 --page-size 1125899906842625", "--page-size"},
                      BadInput{"--model no-such-model", "no-such-model"},
                      BadInput{"--model /no/such/config.json", "/no/such/config.json"},
                      BadInput{"--gpu h100", "--model"},
                      BadInput{"--model Jamba-v0.1 --json /no/such/dir/b.json", "--json"}));

TEST(BudgetCli, ConfigWithAMissingKeyNamesFileAndKey) {
  const test::TempDir dir;
  const auto config = dir / "config.json";
  std::ofstream(config) << R"({"model_type": "nemotron_h", "hybrid_override_pattern": "M*",
      "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "hidden_size": 4096,
      "mamba_num_heads": 128, "n_groups": 8, "ssm_state_size": 128, "conv_kernel": 4})";
  const RunResult r = run_ssmkit("budget --model " + quoted(config));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(config.string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mamba_head_dim"), std::string::npos) << r.output;
}

// Without max_position_embeddings a config still has bytes per token: each context asked for
// sets the length (it was an error no flag could fix). 32 layers x K and V x 8 heads x 128 x
// 2 bytes = 128 KiB per token; 1K tokens = 64 pages of 16.
TEST(BudgetCli, ConfigWithoutAMaximumLengthIsBudgetedAtEachContext) {
  const test::TempDir dir;
  const auto config = dir / "config.json";
  std::ofstream(config) << R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
      "num_attention_heads": 32, "num_key_value_heads": 8})";
  const RunResult r = run_ssmkit("budget --model " + quoted(config) + " --context 1k");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("KV per token 128.00 KiB (131072 B)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1K                64      128.00 MiB"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ssmkit
