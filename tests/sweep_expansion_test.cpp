// Sweep files: cartesian expansion in row-major order, the sweep hash, shards, and bad
// sweep files reported at the offending axis (file:line:column).
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "ssmkit/error.hpp"
#include "ssmkit/scenario/sweep.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

const std::string kBase =
    "model: mamba2-2.7b\n"
    "cache: {memory: 60GiB, max_sequences: 4}\n"
    "workload:\n"
    "  synthetic: {requests: 5, arrival_rate: 2, prompt: 64, output: 8}\n";

struct Files {
  test::TempDir dir;
  std::filesystem::path write(const std::string& name, const std::string& text) {
    const auto path = dir / name;
    std::ofstream(path) << text;
    return path;
  }
};

TEST(SweepExpansion, CartesianProductLastAxisFastest) {
  Files f;
  f.write("base.yaml", kBase);
  const auto path = f.write("s.yaml",
                            "base: base.yaml\n"
                            "axes:\n"
                            "  model: [mamba2-2.7b, Jamba-v0.1]\n"
                            "  cache.page_size: [16, 32, 64]\n");
  const Sweep s = load_sweep(path);
  EXPECT_EQ(s.command, "replay");
  EXPECT_EQ(s.name, "s");
  ASSERT_EQ(s.axes.size(), 2u);
  EXPECT_EQ(s.axes[0].path, "model");
  EXPECT_EQ(s.axes[1].values, (std::vector<std::string>{"16", "32", "64"}));
  ASSERT_EQ(s.points.size(), 6u);
  const char* models[] = {"mamba2-2.7b", "Jamba-v0.1"};
  const std::int64_t pages[] = {16, 32, 64};
  for (std::int64_t i = 0; i < 6; ++i) {
    const SweepPoint& p = s.points[i];
    EXPECT_EQ(p.index, i);
    EXPECT_EQ(p.scenario.model, models[i / 3]) << i;
    EXPECT_EQ(p.scenario.cache.settings.page_size, pages[i % 3]) << i;
    EXPECT_EQ(p.values[0], models[i / 3]);
    EXPECT_EQ(p.values[1], std::to_string(pages[i % 3]));
    // What the axes do not touch comes from the base.
    EXPECT_EQ(p.scenario.cache.settings.max_requests, 4);
    EXPECT_EQ(p.scenario.workload.synthetic->requests, 5);
  }
}

TEST(SweepExpansion, AxesReachNestedAndMappingValuedFields) {
  Files f;
  f.write("base.yaml", kBase);
  const Sweep s = load_sweep(f.write(
      "s.yaml",
      "command: budget\n"
      "base: base.yaml\n"
      "axes:\n"
      "  cache.memory: [40GiB, {gpu: h100, utilization: 0.5}]\n"
      "  workload.synthetic.prompt: [{distribution: uniform, min: 1, max: 9}]\n"
      "  scheduler.step_time.base_ms: [5]\n"));
  ASSERT_EQ(s.points.size(), 2u);
  EXPECT_EQ(s.command, "budget");
  EXPECT_EQ(s.points[0].scenario.cache.memory.resolve(), 40ull << 30);
  EXPECT_EQ(s.points[1].scenario.cache.memory.gpu, "h100");
  EXPECT_EQ(s.points[1].values[0], "{gpu: h100, utilization: 0.5}");
  EXPECT_EQ(s.points[0].scenario.workload.synthetic->prompt.max, 9);
  EXPECT_DOUBLE_EQ(s.points[0].scenario.scheduler.step_time.base_s, 0.005);  // created on the way
}

TEST(SweepExpansion, HashNamesTheExpandedSweep) {
  Files f;
  f.write("base.yaml", kBase);
  const std::string axes = "  model: [mamba2-2.7b, Jamba-v0.1]\n  cache.page_size: [16, 32]\n";
  const std::string swapped = "  cache.page_size: [16, 32]\n  model: [mamba2-2.7b, Jamba-v0.1]\n";
  const auto a = load_sweep(f.write("a.yaml", "base: base.yaml\naxes:\n" + axes));
  const auto again = load_sweep(f.write("a2.yaml", "name: other\nbase: base.yaml\naxes:\n" + axes));
  const auto b = load_sweep(f.write("b.yaml", "base: base.yaml\naxes:\n" + swapped));
  const auto c = load_sweep(f.write("c.yaml", "command: budget\nbase: base.yaml\naxes:\n" + axes));
  EXPECT_EQ(a.hash.size(), 16u);
  EXPECT_EQ(a.hash, again.hash);  // same points, same command: the name does not matter
  EXPECT_NE(a.hash, b.hash);      // another order of points
  EXPECT_NE(a.hash, c.hash);
  f.write("base.yaml", kBase + "scheduler: {token_budget: 4096}\n");
  EXPECT_NE(a.hash, load_sweep(f.dir / "a.yaml").hash);
}

TEST(SweepExpansion, ShardsAreDisjointAndCoverEveryPoint) {
  for (std::int64_t total : {1, 6, 7}) {
    for (std::int64_t n = 1; n <= 4; ++n) {
      std::multiset<std::int64_t> seen;
      for (std::int64_t i = 0; i < n; ++i) {
        const auto points = shard_points(total, parse_shard(std::to_string(i) + "/" + std::to_string(n)));
        for (std::size_t k = 0; k < points.size(); ++k) {
          EXPECT_EQ(points[k], i + static_cast<std::int64_t>(k) * n);
          seen.insert(points[k]);
        }
      }
      ASSERT_EQ(static_cast<std::int64_t>(seen.size()), total);
      for (std::int64_t p = 0; p < total; ++p) EXPECT_EQ(seen.count(p), 1u);
    }
  }
  // A count near the integer's limit: one point, no overflowing step (it crashed).
  EXPECT_EQ(shard_points(7, parse_shard("1/9223372036854775807")), std::vector<std::int64_t>{1});
  EXPECT_TRUE(shard_points(7, parse_shard("9/9223372036854775807")).empty());
  for (const char* bad : {"3/3", "-1/2", "1/0", "a/b", "1/2x", "12", ""}) {
    EXPECT_THROW(parse_shard(bad), InputError) << bad;
  }
}

TEST(SweepExpansion, BadSweepFilesPointAtTheAxis) {
  Files f;
  f.write("base.yaml", kBase);
  struct Case {
    std::string yaml, where, field;
  };
  const Case cases[] = {
      {"base: base.yaml\naxes:\n  cache.page_sise: [16]\n", ":3:3", "axes.cache.page_sise"},
      {"base: base.yaml\naxes:\n  cache.page_size: [16, big]\n", ":3:25", "axes.cache.page_size"},
      {"base: base.yaml\naxes:\n  model: [mamba2-2.7b, mamba9]\n", ":3:24", "axes.model"},
      {"base: base.yaml\naxes:\n  cache.page_size: 16\n", ":3:20", "axes.cache.page_size"},
      {"base: base.yaml\naxes:\n  cache.page_size: []\n", ":3:20", "axes.cache.page_size"},
      {"base: base.yaml\naxes:\n  cache: [{memory: 1GiB}]\n  cache.page_size: [8]\n", ":4:3",
       "axes.cache.page_size"},
      {"base: base.yaml\naxes:\n  model.name: [x]\n", ":3:3", "axes.model.name"},
      {"base: base.yaml\naxes:\n  bench.repetitions: [2, 0]\n", ":3:26", "axes.bench.repetitions"},
      {"base: base.yaml\naxes:\n  bench.preset: [tiny, huge]\n", ":3:24", "axes.bench.preset"},
      {"base: base.yaml\naxes:\n  validate.ops: [[causal_conv1d], [conv]]\n", ":3:35",
       "axes.validate.ops"},
      {"base: base.yaml\naxes: {}\n", ":2:7", "axes"},
      {"base: base.yaml\naxis:\n  model: [x]\n", ":2:1", "axis"},
      {"axes:\n  model: [x]\n", ":1:1", "base"},
      {"base: [1]\naxes:\n  model: [x]\n", ":1:7", "base"},
      // 100,001 points: refused before any is parsed (a million took minutes, silently).
      {"base: base.yaml\naxes:\n  a.b: [1,2,3,4,5,6,7,8,9,10,11]\n  c.d: [1,2,3,4,5,6,7,8,9,10]\n"
       "  e.f: [1,2,3,4,5,6,7,8,9,10]\n  g.h: [1,2,3,4,5,6,7,8,9,10]\n  i.j: [1,2,3,4,5,6,7,8,9,10]\n",
       ":3:3", "axes"},
      // Nested aliases: a few hundred bytes whose last value expands to 11,111 nodes (six
      // levels, a million per point, hung the load).
      {"base: base.yaml\naxes:\n  cache.page_size:\n    - &l0 [x, x, x, x, x, x, x, x, x, x]\n"
       "    - &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\n"
       "    - &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n"
       "    - &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]\n",
       ":7:7", "axes.cache.page_size"},
  };
  for (const Case& c : cases) {
    const auto path = f.write("bad.yaml", c.yaml);
    try {
      load_sweep(path);
      ADD_FAILURE() << "accepted:\n" << c.yaml;
    } catch (const InputError& e) {
      EXPECT_EQ(e.where(), path.string() + c.where) << e.what() << "\nfor:\n" << c.yaml;
      EXPECT_EQ(e.field(), c.field) << e.what() << "\nfor:\n" << c.yaml;
    }
  }
  // The base's own errors point into the base file.
  f.write("broken.yaml", kBase + "backend: tpu\n");
  try {
    load_sweep(f.write("s.yaml", "base: broken.yaml\naxes:\n  model: [Jamba-v0.1]\n"));
    ADD_FAILURE() << "accepted a broken base";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), (f.dir / "broken.yaml").string() + ":5:10");
  }
  EXPECT_THROW(load_sweep(f.write("s.yaml", "base: missing.yaml\naxes:\n  model: [x]\n")),
               InputError);
}

}  // namespace
}  // namespace ssmkit
