// `ssmkit sweep` end to end: shards together equal the whole sweep, `sweep merge` joins
// them and refuses shards of another sweep, duplicates and gaps; CSV and Markdown outputs.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using test::CliRun;
const auto ssmkit = test::run_ssmkit;
const auto q = test::quoted;

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// A point's result without its wall-clock time, which differs from run to run.
nlohmann::json comparable(nlohmann::json point) {
  point["metrics"].erase("wall_s");
  return point;
}

class SweepCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_ / "base.yaml")
        << "model: Jamba-v0.1\n"
           "cache: {memory: 400MiB, max_sequences: 8}\n"
           "workload:\n"
           "  synthetic:\n"
           "    requests: 60\n"
           "    arrival_rate: 10\n"
           "    prompt: {distribution: uniform, min: 100, max: 1500}\n"
           "    output: {distribution: uniform, min: 10, max: 200}\n";
    write_sweep("sweep.yaml", "[16, 32, 64]");
  }
  std::filesystem::path write_sweep(const std::string& name, const std::string& pages) {
    std::ofstream(dir_ / name) << "base: base.yaml\naxes:\n  cache.max_sequences: [4, 8]\n"
                                  "  cache.page_size: " + pages + "\n";
    return dir_ / name;
  }
  test::TempDir dir_;
};

TEST_F(SweepCli, ShardsMergeIntoTheFullSweep) {
  CliRun r = ssmkit("sweep " + q(dir_ / "sweep.yaml") + " --json " + q(dir_ / "full.json") +
                 " --csv " + q(dir_ / "full.csv") + " --markdown " + q(dir_ / "full.md"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("6 ok, 0 failed, 0 errors"), std::string::npos) << r.output;
  std::vector<std::string> shards;
  for (int i = 0; i < 4; ++i) {
    const auto out = dir_ / ("shard" + std::to_string(i) + ".json");
    r = ssmkit("sweep " + q(dir_ / "sweep.yaml") + " --shard " + std::to_string(i) + "/4 --json " + q(out));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto doc = read_json(out);
    EXPECT_EQ(doc["shard"]["index"], i);
    for (const auto& p : doc["points"]) EXPECT_EQ(p["index"].get<int>() % 4, i);
    shards.push_back(q(out));
  }
  // Given in any order.
  r = ssmkit("sweep merge " + q(dir_ / "merged.json") + " " + shards[2] + " " + shards[0] + " " +
             shards[3] + " " + shards[1]);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto full = read_json(dir_ / "full.json");
  const auto merged = read_json(dir_ / "merged.json");
  EXPECT_EQ(merged["sweep"]["hash"], full["sweep"]["hash"]);
  ASSERT_EQ(merged["points"].size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(merged["points"][i]["index"], i);
    EXPECT_EQ(comparable(merged["points"][i]), comparable(full["points"][i])) << i;
  }
  // Last axis fastest: point 1 is max_sequences 4, page_size 32.
  EXPECT_EQ(full["points"][1]["values"]["cache.max_sequences"], "4");
  EXPECT_EQ(full["points"][1]["values"]["cache.page_size"], "32");

  std::ifstream csv(dir_ / "full.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_TRUE(header.starts_with("index,cache.max_sequences,cache.page_size,status,")) << header;
  int rows = 0;
  while (std::getline(csv, line)) rows += line.empty() ? 0 : 1;
  EXPECT_EQ(rows, 6);
  std::ifstream md(dir_ / "full.md");
  std::getline(md, line);
  EXPECT_TRUE(line.starts_with("| index | cache.max_sequences |")) << line;
}

TEST_F(SweepCli, MergeRefusesOtherSweepsDuplicatesAndGaps) {
  const auto a0 = dir_ / "a0.json", a1 = dir_ / "a1.json", b1 = dir_ / "b1.json";
  ASSERT_EQ(ssmkit("sweep " + q(dir_ / "sweep.yaml") + " --shard 0/2 --json " + q(a0)).exit_code, 0);
  ASSERT_EQ(ssmkit("sweep " + q(dir_ / "sweep.yaml") + " --shard 1/2 --json " + q(a1)).exit_code, 0);
  ASSERT_EQ(ssmkit("sweep " + q(write_sweep("other.yaml", "[16, 32, 128]")) +
                   " --shard 1/2 --json " + q(b1))
                .exit_code,
            0);
  const auto out = q(dir_ / "m.json");
  CliRun r = ssmkit("sweep merge " + out + " " + q(a0) + " " + q(b1));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("different sweeps"), std::string::npos) << r.output;
  r = ssmkit("sweep merge " + out + " " + q(a0) + " " + q(a1) + " " + q(a0));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("point 0 is also in"), std::string::npos) << r.output;
  r = ssmkit("sweep merge " + out + " " + q(a1));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("3 missing: 0, 2, 4"), std::string::npos) << r.output;
  std::ofstream(dir_ / "junk.json") << "{\"tool\": \"ssmkit sweep\", \"sweep\": {\"hash\": 5";
  r = ssmkit("sweep merge " + out + " " + q(dir_ / "junk.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("junk.json"), std::string::npos) << r.output;
  std::ofstream(dir_ / "typed.json") << R"({"tool": "ssmkit sweep", "sweep": {"hash": 5, "total_points": 1}, "points": []})";
  r = ssmkit("sweep merge " + out + " " + q(dir_ / "typed.json"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  // Corrupt points are named with their file here, not as a bare JSON error in the report.
  nlohmann::json shard;
  std::ifstream(a0) >> shard;
  for (const char* damage : {"status", "index"}) {
    nlohmann::json bad = shard;
    if (std::string(damage) == "status") bad["points"][0].erase("status");
    else bad["points"][0]["index"] = 1.5;
    std::ofstream(dir_ / "damaged.json") << bad.dump();
    r = ssmkit("sweep merge " + out + " " + q(dir_ / "damaged.json") + " " + q(a1));
    EXPECT_EQ(r.exit_code, 2) << damage << "\n" << r.output;
    EXPECT_NE(r.output.find("damaged.json: points: points with an integer index, a status"), std::string::npos)
        << damage << "\n" << r.output;
  }
  // A total far beyond the points given names the first gaps without listing them all.
  nlohmann::json huge = shard;
  huge["sweep"]["total_points"] = 1000000000000LL;
  std::ofstream(dir_ / "huge.json") << huge.dump();
  r = ssmkit("sweep merge " + out + " " + q(dir_ / "huge.json"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("999999999997 missing: 1, 3, 5, 6, 7"), std::string::npos) << r.output;
}

TEST_F(SweepCli, BadSweepsAndShardsAreUsageErrors) {
  std::ofstream(dir_ / "cmd.yaml") << "command: train\nbase: base.yaml\naxes:\n  model: [Jamba-v0.1]\n";
  CliRun r = ssmkit("sweep " + q(dir_ / "cmd.yaml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("cmd.yaml:1:10: command: one of replay, budget, validate, bench, got 'train'"),
            std::string::npos) << r.output;
  r = ssmkit("sweep " + q(dir_ / "sweep.yaml") + " --shard 4/4");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = ssmkit("sweep " + q(dir_ / "sweep.yaml") + " --json " + q(dir_ / "no" / "such" / "r.json"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--json: cannot open the file for writing"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(" ok, "), std::string::npos) << r.output;  // no point ran
  r = ssmkit("sweep");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST_F(SweepCli, PointsThatCannotRunAreErrorsNotCrashes) {
  // 64 state slots of Jamba-v0.1 (15.75 MiB each) exceed 400 MiB: that point is an error,
  // the others still run, and the exit status says something failed.
  std::ofstream(dir_ / "big.yaml") << "command: budget\nbase: base.yaml\naxes:\n"
                                      "  cache.memory: [400MiB, 10MiB]\n";
  const CliRun r = ssmkit("sweep " + q(dir_ / "big.yaml") + " --json " + q(dir_ / "big.json"));
  EXPECT_EQ(r.exit_code, 0) << r.output;  // budget reports what fits, even nothing
  const auto doc = read_json(dir_ / "big.json");
  EXPECT_EQ(doc["points"][1]["metrics"]["max_sequences_1K"], 0);

  std::ofstream(dir_ / "slots.yaml") << "base: base.yaml\naxes:\n  cache.max_sequences: [8, 64]\n";
  const CliRun s = ssmkit("sweep " + q(dir_ / "slots.yaml") + " --json " + q(dir_ / "slots.json"));
  EXPECT_EQ(s.exit_code, 1) << s.output;
  const auto slots = read_json(dir_ / "slots.json");
  EXPECT_EQ(slots["points"][0]["status"], "ok");
  EXPECT_EQ(slots["points"][1]["status"], "error");
  EXPECT_NE(slots["points"][1]["message"].get<std::string>().find("cache.memory"), std::string::npos);
}

}  // namespace
}  // namespace ssmkit
