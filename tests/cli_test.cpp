// End to end: the ssmkit binary's exit status, messages and report files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ssmkit/golden.hpp"
#include "cli_util.hpp"
#include "ssmkit/op_case.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using test::env_or;
using test::quoted;
using test::run_ssmkit;

const std::filesystem::path kGoldenDir =
    std::filesystem::path(env_or("SSMKIT_SOURCE_DIR", SSMKIT_SOURCE_DIR)) / "golden";

std::vector<std::filesystem::path> bundled_goldens() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(kGoldenDir)) {
    if (e.path().extension() == ".h5") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(Cli, BundledSuitePassesOnCpu) {
  ASSERT_FALSE(bundled_goldens().empty()) << "no goldens under " << kGoldenDir;
  const auto r = run_ssmkit("validate");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(std::to_string(bundled_goldens().size()) + " passed, 0 failed"),
            std::string::npos)
      << r.output;
}

TEST(Cli, EveryGoldenCoversAtLeastThreeCasesPerOp) {
  std::map<std::string, int> per_op;
  for (const auto& f : bundled_goldens()) ++per_op[load_golden(f).op];
  for_each_op([&]<class P>() {
    const std::string op(OpTraits<P>::name);
    EXPECT_GE(per_op[op], 3) << op;
  });
}

// A golden whose outputs moved by 1e-3 relative must fail (float32 inputs; low-precision
// inputs have looser tolerances and must fail at 5e-2), with exit status 1.
TEST(Cli, PerturbedGoldensFail) {
  test::TempDir dir;
  for (const auto& f : bundled_goldens()) {
    const bool low_precision = load_golden(f).input_dtype != DType::float32 &&
                               load_golden(f).input_dtype != DType::float64;
    const auto perturbed = dir / f.filename().string();
    test::write_perturbed(f, perturbed, low_precision ? 5e-2 : 1e-3);
    const auto r = run_ssmkit("validate " + quoted(perturbed));
    EXPECT_EQ(r.exit_code, 1) << f << "\n" << r.output;
    EXPECT_NE(r.output.find("FAIL"), std::string::npos) << f;
  }
}

TEST(Cli, ToleranceFlagsOverrideTheDefaults) {
  test::TempDir dir;
  const auto f = bundled_goldens().front();
  test::write_perturbed(f, dir / "p.h5", 1e-3);
  EXPECT_EQ(run_ssmkit("validate " + quoted(dir / "p.h5")).exit_code, 1);
  EXPECT_EQ(run_ssmkit("validate --atol 1e-2 --rtol 1e-2 " + quoted(dir / "p.h5")).exit_code, 0);
}

TEST(Cli, InputErrorsExitTwoAndOtherCasesStillRun) {
  test::TempDir dir;
  std::ofstream(dir / "junk.h5") << "not hdf5";
  const auto good = bundled_goldens().front();
  const auto r = run_ssmkit("validate " + quoted(good) + " " + quoted(dir / "junk.h5") + " " +
                            quoted(dir / "missing.h5"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("PASS"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find((dir / "junk.h5").string() + ": not an HDF5 file"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find((dir / "missing.h5").string() + ": no such file or directory"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("1 passed, 0 failed, 2 input errors"), std::string::npos) << r.output;
}

TEST(Cli, TruncatedGoldenIsAnInputError) {
  test::TempDir dir;
  const auto f = bundled_goldens().back();
  std::filesystem::copy_file(f, dir / "cut.h5");
  std::filesystem::resize_file(dir / "cut.h5", std::filesystem::file_size(f) / 2);
  const auto r = run_ssmkit("validate " + quoted(dir / "cut.h5"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find((dir / "cut.h5").string()), std::string::npos) << r.output;
}

TEST(Cli, YamlSuiteErrorsNameFileLineAndColumn) {
  test::TempDir dir;
  std::ofstream(dir / "suite.yaml") << "name: s\ncases:\n  - {path: a.h5, tolerance: 1}\n";
  auto r = run_ssmkit("validate " + quoted(dir / "suite.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find((dir / "suite.yaml").string() + ":3:18: tolerance: unknown key"),
            std::string::npos)
      << r.output;
  std::ofstream(dir / "bad.yaml") << "cases: [a.h5\n";
  r = run_ssmkit("validate " + quoted(dir / "bad.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("YAML syntax error"), std::string::npos) << r.output;
  std::ofstream(dir / "suite2.yaml") << "cases:\n  - {path: nothere.h5, atol: -1}\n";
  r = run_ssmkit("validate " + quoted(dir / "suite2.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("suite2.yaml:2:30: atol: expected a finite number >= 0"),
            std::string::npos)
      << r.output;
  // A second `cases` list: the parser keeps it, a lookup would silently skip it.
  std::ofstream(dir / "twice.yaml") << "cases: [a.h5]\ncases: [b.h5]\n";
  r = run_ssmkit("validate " + quoted(dir / "twice.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("twice.yaml:2:1: cases: a key given once, given again"), std::string::npos)
      << r.output;
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_ssmkit("validate --backend tpu").exit_code, 2);
  EXPECT_EQ(run_ssmkit("validate --atol -1").exit_code, 2);
  EXPECT_EQ(run_ssmkit("frobnicate").exit_code, 2);
  EXPECT_EQ(run_ssmkit("").exit_code, 2);
  EXPECT_EQ(run_ssmkit("--help").exit_code, 0);
}

TEST(Cli, CudaWithoutAGpuIsAClearErrorAndAllSkipsItVisibly) {
  auto r = run_ssmkit("validate --backend cuda " + quoted(bundled_goldens().front()));
  if (r.exit_code == 0) GTEST_SKIP() << "a CUDA device is present; nothing to check here";
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("backend 'cuda' is not available"), std::string::npos) << r.output;
  r = run_ssmkit("validate --backend all " + quoted(bundled_goldens().front()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("SKIP backend cuda:"), std::string::npos) << r.output;
}

// NaN and infinity pass CLI11's non-negative check; as tolerances they would pass every case.
TEST(Cli, NonFiniteToleranceIsAUsageError) {
  const auto good = quoted(bundled_goldens().front());
  for (const char* flag : {"--atol nan", "--rtol nan", "--atol inf", "--rtol -1"}) {
    const auto r = run_ssmkit(std::string("validate ") + flag + " " + good);
    EXPECT_EQ(r.exit_code, 2) << flag << "\n" << r.output;
    EXPECT_NE(r.output.find("expected a finite number >= 0"), std::string::npos) << flag << "\n" << r.output;
  }
}

TEST(Cli, WritesJsonAndJunitReports) {
  test::TempDir dir;
  const auto good = bundled_goldens().front();
  test::write_perturbed(good, dir / "bad.h5", 1e-2);
  const auto r = run_ssmkit("validate --json " + quoted(dir / "r.json") + " --junit " +
                            quoted(dir / "r.xml") + " " + quoted(good) + " " +
                            quoted(dir / "bad.h5"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::ifstream json_file(dir / "r.json");
  const auto doc = nlohmann::json::parse(json_file);
  EXPECT_EQ(doc["summary"]["passed"], 1);
  EXPECT_EQ(doc["summary"]["failed"], 1);
  ASSERT_EQ(doc["cases"].size(), 2u);
  EXPECT_EQ(doc["cases"][1]["status"], "FAIL");
  EXPECT_GT(doc["cases"][1]["outputs"][0]["max_abs_error"].get<double>(), 0.0);
  std::ifstream xml_file(dir / "r.xml");
  const std::string xml((std::istreambuf_iterator<char>(xml_file)), {});
  EXPECT_NE(xml.find("<testsuites name=\"ssmkit validate\" tests=\"2\" failures=\"1\""),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<failure message="), std::string::npos);
  EXPECT_EQ(run_ssmkit("validate --json /nonexistent/dir/r.json " + quoted(good)).exit_code, 2);
}

}  // namespace
}  // namespace ssmkit
