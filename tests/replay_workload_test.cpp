// Workloads for the replay: the Azure trace reader (timestamps, selection, errors naming
// file, line and column) and the seeded synthetic generator.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "ssmkit/error.hpp"
#include "ssmkit/serving/azure_trace.hpp"
#include "ssmkit/serving/synthetic_workload.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

const std::filesystem::path kAzureConv = std::filesystem::path(SSMKIT_SOURCE_DIR) / "scenarios" /
                                         "traces" / "AzureLLMInferenceTrace_conv.csv";

std::filesystem::path write_file(const test::TempDir& dir, const std::string& text) {
  const auto path = dir / "trace.csv";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

InputError read_error(const std::filesystem::path& path) {
  try {
    read_azure_trace(path);
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << "no InputError for " << path;
  return InputError("", "", "");
}

TEST(AzureTrace, ReadsTimestampsAcrossMidnight) {
  test::TempDir dir;
  const auto path = write_file(dir,
                               "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
                               "2023-11-16 18:15:46.6805900,374,44\r\n"
                               "2023-11-16 18:15:50.9951690,396,109\r\n"
                               "2023-11-16 23:59:59.5,10,0\r\n"
                               "2023-11-17 00:00:01.25,20,5");  // no final newline, as the real file
  const auto r = read_azure_trace(path);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_DOUBLE_EQ(r[0].arrival_s, 0.0);
  EXPECT_NEAR(r[1].arrival_s, 4.314579, 1e-9);  // 50.9951690 - 46.6805900
  EXPECT_EQ(r[1].prompt_tokens, 396);
  EXPECT_EQ(r[1].source_line, 3);
  // 18:15:46.68059 to midnight is 5 h 44 min 13.31941 s.
  EXPECT_NEAR(r[2].arrival_s, 20653.31941 - 0.5, 1e-6);
  EXPECT_EQ(r[2].output_tokens, 0);
  EXPECT_NEAR(r[3].arrival_s, 20653.31941 + 1.25, 1e-6);
  EXPECT_EQ(r[3].source_line, 5);
}

TEST(AzureTrace, SelectsAWindowThenALimitAndCountsFromTheFirstSelected) {
  test::TempDir dir;
  const auto path = write_file(dir,
                               "GeneratedTokens,TIMESTAMP,ContextTokens,Extra\n"
                               "1,0.0,10,x\n2,1.5,20,x\n3,2.5,30,x\n4,3.0,40,x\n5,9.0,50,x\n");
  TraceSelection s;
  s.start_s = 1.0;
  s.end_s = 9.0;
  auto r = read_azure_trace(path, s);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].prompt_tokens, 20);
  EXPECT_EQ(r[0].output_tokens, 2);
  EXPECT_DOUBLE_EQ(r[0].arrival_s, 0.0);
  EXPECT_DOUBLE_EQ(r[2].arrival_s, 1.5);
  s.limit = 2;
  r = read_azure_trace(path, s);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].prompt_tokens, 30);
  // A window past the trace selects nothing: an input error, not a replay that passes.
  s = TraceSelection{};
  s.start_s = 100.0;
  try {
    read_azure_trace(path, s);
    ADD_FAILURE() << "an empty window was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("start_s/end_s: a window holding at least one request; the "
                                         "trace spans 0 to 9.000000 s"),
              std::string::npos)
        << e.what();
  }
  // A header after a UTF-8 byte-order mark (a spreadsheet's export) reads the same.
  const auto bom = write_file(dir, "\xEF\xBB\xBFTIMESTAMP,ContextTokens,GeneratedTokens\n0,10,1\n");
  ASSERT_EQ(read_azure_trace(bom, TraceSelection{}).size(), 1u);
}

TEST(AzureTrace, BadRowsNameTheFileLineAndColumn) {
  test::TempDir dir;
  const std::string header = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  struct Case {
    std::string text, field, where_suffix;
  };
  const Case cases[] = {
      {header + "0,5,5\n1,abc,5\n", "ContextTokens", "trace.csv:3"},
      {header + "0,0,5\n", "ContextTokens", "trace.csv:2"},
      {header + "0,5,-1\n", "GeneratedTokens", "trace.csv:2"},
      {header + "0,5,5\n2023-13-01 00:00:00,5,5\n", "TIMESTAMP", "trace.csv:3"},
      {header + "yesterday,5,5\n", "TIMESTAMP", "trace.csv:2"},
      {header + "0,5,5\n1e300,5,5\n", "TIMESTAMP", "trace.csv:3"},  // seconds past 64 bits
      {header + "0,5\n", "", "trace.csv:2"},
      // Out of arrival order, or two TIMESTAMP formats: refused, not re-sorted.
      {header + "0,5,5\n2,5,5\n1,5,5\n", "TIMESTAMP", "trace.csv:4"},
      {header + "2023-11-16 18:15:46,5,5\n5,5,5\n", "TIMESTAMP", "trace.csv:3"},
      // 2^32 generated tokens: past limits::kMaxTokensPerRequest (2^24), not hours of decoding.
      {header + "0,5,4294967296\n", "GeneratedTokens", "trace.csv:2"},
      {header + "0,16777210,7\n", "ContextTokens", "trace.csv:2"},
      {"TIMESTAMP,Context,GeneratedTokens\n0,5,5\n", "ContextTokens", "trace.csv:1"},
      {header, "", "trace.csv"},
      {"", "", "trace.csv"},
  };
  for (const Case& c : cases) {
    const InputError e = read_error(write_file(dir, c.text));
    EXPECT_EQ(e.field(), c.field) << c.text;
    EXPECT_TRUE(e.where().ends_with(c.where_suffix)) << e.where() << " for " << c.text;
  }
  EXPECT_THROW(read_azure_trace(dir / "missing.csv"), InputError);
}

TEST(AzureTrace, ReadsTheShippedConversationTrace) {
  // Expected values from the CSV read independently (Python's csv module): 19,366 rows,
  // prompt and output token sums, and the last minus first timestamp
  // (19:14:08.4025270 - 18:15:46.6805900).
  const auto r = read_azure_trace(kAzureConv);
  ASSERT_EQ(r.size(), 19366u);
  std::int64_t prompts = 0, outputs = 0;
  for (const auto& q : r) prompts += q.prompt_tokens, outputs += q.output_tokens;
  EXPECT_EQ(prompts, 22361870);
  EXPECT_EQ(outputs, 4088665);
  EXPECT_DOUBLE_EQ(r.front().arrival_s, 0.0);
  EXPECT_NEAR(r.back().arrival_s, 3501.721937, 1e-6);
}

LengthDistribution fixed(std::int64_t v) { return {LengthDistribution::Kind::fixed, v}; }

TEST(SyntheticWorkload, SameSeedSameRequestsOtherSeedOthers) {
  SyntheticWorkload w;
  w.seed = 42, w.requests = 200, w.arrival_rate = 3.0;
  w.prompt = {LengthDistribution::Kind::lognormal, 0, 1, 0, 500.0, 1.0};
  w.output = {LengthDistribution::Kind::uniform, 0, 10, 20};
  const auto a = generate_requests(w), b = generate_requests(w);
  w.seed = 43;
  const auto c = generate_requests(w);
  ASSERT_EQ(a.size(), 200u);
  int differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].arrival_s, b[i].arrival_s);
    EXPECT_EQ(a[i].prompt_tokens, b[i].prompt_tokens);
    EXPECT_EQ(a[i].output_tokens, b[i].output_tokens);
    differ += a[i].prompt_tokens != c[i].prompt_tokens;
  }
  EXPECT_GT(differ, 150);
}

TEST(SyntheticWorkload, DistributionsHaveTheirStatedShape) {
  SyntheticWorkload w;
  w.seed = 1, w.requests = 20001, w.arrival_rate = 4.0;
  w.prompt = {LengthDistribution::Kind::lognormal, 0, 1, 0, 1000.0, 0.8};
  w.output = {LengthDistribution::Kind::uniform, 0, 1, 4};
  const auto r = generate_requests(w);
  std::vector<std::int64_t> prompts;
  std::int64_t counts[5] = {};
  for (const auto& q : r) {
    prompts.push_back(q.prompt_tokens);
    ASSERT_GE(q.output_tokens, 1);
    ASSERT_LE(q.output_tokens, 4);
    ++counts[q.output_tokens];
  }
  std::nth_element(prompts.begin(), prompts.begin() + 10000, prompts.end());
  EXPECT_NEAR(static_cast<double>(prompts[10000]), 1000.0, 50.0);  // median = exp(mu)
  for (int v = 1; v <= 4; ++v) EXPECT_NEAR(counts[v] / 20001.0, 0.25, 0.02) << v;
  // Poisson arrivals: mean gap 1 / rate.
  EXPECT_NEAR(r.back().arrival_s / 20000.0, 0.25, 0.25 * 0.03);

  w.requests = 50, w.arrival_rate = INFINITY;
  w.prompt = fixed(7);
  w.output = {LengthDistribution::Kind::lognormal, 0, 3, 9, 5.0, 3.0};  // clamped
  for (const auto& q : generate_requests(w)) {
    EXPECT_EQ(q.arrival_s, 0.0);
    EXPECT_EQ(q.prompt_tokens, 7);
    EXPECT_GE(q.output_tokens, 3);
    EXPECT_LE(q.output_tokens, 9);
  }
}

}  // namespace
}  // namespace ssmkit
