// Hostile and malformed input, one test per reproducer of the reliability issue: each feeds
// the bad input and expects an InputError (exit 2 end to end) naming the file, the field
// and, where there is one, the line. Bounds are restated here by hand (2^16 layers, 2^24
// tokens per request, 64 nesting levels) rather than read from limits.hpp.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/golden.hpp"
#include "ssmkit/golden_guard.hpp"
#include "ssmkit/hdf5_file.hpp"
#include "ssmkit/limits.hpp"
#include "ssmkit/model/model_spec.hpp"
#include "test_util.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define SSMKIT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SSMKIT_TEST_ASAN 1
#endif
#endif

namespace ssmkit {
namespace {

using test::CliRun;
using test::quoted;

const std::filesystem::path kSource = test::source_dir();

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Runs ssmkit under a 20 s wall-clock cap, so that a regression to a hang fails the test
// instead of stalling the suite.
CliRun run_capped(const std::string& args) {
  return test::run_command("timeout -s KILL 20 " + test::ssmkit_binary() + " " + args);
}

InputError config_error(const std::string& json_text) {
  try {
    parse_hf_config(json_text, "config.json");
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << "no InputError for " << json_text.substr(0, 200);
  return InputError("", "", "");
}

// --- Checked arithmetic at the 64-bit edge -------------------------------------------------

TEST(Reliability, CheckedMultiplicationStopsAtTheSixtyFourBitEdge) {
  const std::uint64_t below = (std::uint64_t{1} << 32) - 1, above = (std::uint64_t{1} << 32) + 1;
  // (2^32 - 1)(2^32 + 1) = 2^64 - 1 is the largest product that fits.
  EXPECT_EQ(limits::checked_mul(below, above, "w", "f"), ~std::uint64_t{0});
  try {
    limits::checked_mul(std::uint64_t{1} << 32, std::uint64_t{1} << 32, "where", "a * b");
    ADD_FAILURE() << "2^32 * 2^32 did not overflow";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "where");
    EXPECT_EQ(e.field(), "a * b");
  }
  EXPECT_THROW(limits::checked_add(~std::uint64_t{0}, std::uint64_t{1}, "w", "f"), InputError);
}

// expand * hidden_size = 2^40 channels; with d_state + conv_kernel = 2^21 the state is
// 2^40 * 2^21 * 8 = 2^64 bytes at float64: one past what 64 bits count. One conv tap fewer
// and it fits (and is then budgeted honestly, not wrapped).
std::string big_mamba(std::int64_t conv_kernel) {
  return R"({"model_type": "mamba", "num_hidden_layers": 1, "hidden_size": 1048576,
             "expand": 1048576, "state_size": 1048576, "conv_kernel": )" +
         std::to_string(conv_kernel) + "}";
}

TEST(Reliability, MambaStateThatLeavesSixtyFourBitsIsAnInputError) {
  EXPECT_NO_THROW(parse_hf_config(big_mamba(1048575), "config.json"));
  const InputError e = config_error(big_mamba(1048576));
  EXPECT_EQ(e.where(), "config.json");
  EXPECT_TRUE(contains(e.field(), "mamba (layers * intermediate_size * (d_state + conv_kernel)")) << e.what();
}

TEST(Reliability, BudgetOfAnOverflowingMambaConfigExitsTwo) {
  test::TempDir dir;
  write(dir / "config.json", big_mamba(1048576));
  const CliRun r = run_capped("budget --model " + quoted(dir / "config.json") + " --gpu h100 --context 1k");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, (dir / "config.json").string() + ": mamba (layers")) << r.output;
}

// 16 Mamba2 layers of 2^20 heads x 2^20 head_dim x 2^20 state: 2^66 bytes at float32, which
// wrapped to exactly 0 ("no state") before the products were checked.
TEST(Reliability, NemotronHStateThatWrappedToZeroIsAnInputError) {
  test::TempDir dir;
  write(dir / "config.json", R"({"model_type": "nemotron_h", "hybrid_override_pattern": "MMMMMMMMMMMMMMMM",
    "mamba_num_heads": 1048576, "mamba_head_dim": 1048576, "ssm_state_size": 1048576,
    "n_groups": 1, "conv_kernel": 4})");
  const CliRun r = run_capped("budget --model " + quoted(dir / "config.json") + " --gpu h100 --context 1k");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, (dir / "config.json").string() + ": mamba2 (layers")) << r.output;
}

// --- config.json: nesting, quoted values, pattern length, special files --------------------

TEST(Reliability, DeeplyNestedConfigValueIsRefusedWithoutRecursion) {
  test::TempDir dir;
  const std::size_t depth = 60000;
  write(dir / "config.json", R"({"model_type": "mamba", "num_hidden_layers": )" + std::string(depth, '[') +
                                 std::string(depth, ']') + "}");
  const CliRun r = run_capped("budget --model " + quoted(dir / "config.json") + " --gpu h100 --context 1k");
  EXPECT_EQ(r.exit_code, 2) << r.output.substr(0, 2000);
  EXPECT_TRUE(contains(r.output, (dir / "config.json").string() + ": a config.json nested at most "
                                                                  "limits::kMaxNestingDepth = 64 levels"))
      << r.output.substr(0, 2000);
  EXPECT_LT(r.output.size(), 1000u);
}

TEST(Reliability, WrongTypedConfigValueIsNamedByTypeNotDumped) {
  // Nested 40 deep (under the nesting bound) and 10,000 strings wide: the message names the
  // type and stays short.
  std::string wide = "[";
  for (int i = 0; i < 10000; ++i) wide += std::string(i ? "," : "") + "\"xxxxxxxxxx\"";
  wide += "]";
  InputError e = config_error(R"({"model_type": "mamba", "num_hidden_layers": )" + std::string(40, '[') + wide +
                              std::string(40, ']') + "}");
  EXPECT_EQ(e.field(), "num_hidden_layers");
  EXPECT_EQ(e.expected(), "an integer, got an array");
  e = config_error(R"({"model_type": "mamba", "num_hidden_layers": ")" + std::string(100000, 'y') + "\"}");
  EXPECT_LT(std::string(e.what()).size(), 300u) << e.what();
  EXPECT_TRUE(contains(e.expected(), "(100000 bytes)")) << e.what();
}

TEST(Reliability, FiveMillionCharacterPatternIsPastTheLayerBound) {
  test::TempDir dir;
  write(dir / "config.json", R"({"model_type": "nemotron_h", "hybrid_override_pattern": ")" +
                                 std::string(5000000, 'M') + R"(", "mamba_num_heads": 8,
    "mamba_head_dim": 64, "ssm_state_size": 128, "n_groups": 1, "conv_kernel": 4})");
  const auto start = std::chrono::steady_clock::now();
  const CliRun r = run_capped("budget --model " + quoted(dir / "config.json") + " --gpu h100 --context 1k");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "config.json: hybrid_override_pattern: one character per layer, at most "
                                 "limits::kMaxLayers = 65536, got 5000000 characters"))
      << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(Reliability, DevicesAndFifosAreRefusedByName) {
  test::TempDir dir;
  const auto fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {std::string("/dev/zero"), fifo.string()}) {
    const std::string q = test::quoted(std::filesystem::path(path));
    CliRun r = run_capped("budget --model " + q + " --gpu h100 --context 1k");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, path + ": is a special file (a device, FIFO or socket)")) << r.output;
    r = run_capped("replay --model mamba2-2.7b --gpu h100 --max-sequences 8 --trace " + q);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, path + ": is a special file")) << r.output;
    r = run_capped("validate " + q);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, path)) << r.output;
  }
}

// --- Traces: token bounds, order, formats --------------------------------------------------

TEST(Reliability, TraceRequestPastTheTokenBoundExitsTwoNamingTheLine) {
  test::TempDir dir;
  write(dir / "t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n0,10,5\n1,10,4294967296\n");
  const auto start = std::chrono::steady_clock::now();
  const CliRun r = run_capped("replay --model mamba2-2.7b --gpu h100 --max-sequences 8 --trace " + quoted(dir / "t.csv"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "t.csv:3: GeneratedTokens: ContextTokens + GeneratedTokens at most "
                                 "limits::kMaxTokensPerRequest = 16777216"))
      << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// --- Scenario and sweep YAML ---------------------------------------------------------------

TEST(Reliability, ScenarioErrorsNameFileFieldAndLine) {
  test::TempDir dir;
  const std::string tail = "cache: {memory: 1GiB, max_sequences: 4}\n"
                           "workload:\n  synthetic: {requests: 4, arrival_rate: 1, prompt: 10, output: 10}\n";
  write(dir / "two.yaml", "model: Jamba-v0.1\n" + tail + "---\nmodel: mamba2-2.7b\n");
  CliRun r = run_capped("replay " + quoted(dir / "two.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "two.yaml:5:1: one YAML document; a second one starts here")) << r.output;

  write(dir / "preset.yaml", "name: x\nmodel: no-such-model\n" + tail);
  r = run_capped("replay " + quoted(dir / "preset.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "preset.yaml:2:8: model: a model preset (")) << r.output;
  EXPECT_TRUE(contains(r.output, "'no-such-model' is neither")) << r.output;

  write(dir / "trace.yaml", "model: Jamba-v0.1\ncache: {memory: 1GiB, max_sequences: 4}\n"
                            "workload:\n  trace:\n    path: missing.csv\n");
  r = run_capped("replay " + quoted(dir / "trace.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "trace.yaml: workload.trace.path: an Azure trace CSV")) << r.output;
  EXPECT_TRUE(contains(r.output, "missing.csv does not exist")) << r.output;

  write(dir / "sweep.yaml", "command: replay\nbase: nowhere.yaml\naxes:\n  cache.page_size: [16]\n");
  r = run_capped("sweep " + quoted(dir / "sweep.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "sweep.yaml:2:7: base: a scenario file (relative to the sweep)")) << r.output;

  write(dir / "deep.yaml", "model: " + std::string(100000, '[') + "\n");
  r = run_capped("replay " + quoted(dir / "deep.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output.substr(0, 2000);
  EXPECT_TRUE(contains(r.output, "deep.yaml:1:72: YAML nested at most limits::kMaxNestingDepth = 64"))
      << r.output.substr(0, 2000);
  write(dir / "indented.yaml", "model:\n" + std::string(300, ' ') + "x: 1\n");
  r = run_capped("replay " + quoted(dir / "indented.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "indented.yaml:2: YAML nested at most")) << r.output;
}

// Found by fuzz_scenario (tests/fuzz/regressions/scenario/): yaml-cpp 0.7 answers a ','
// where a value should start with an empty document and no progress, so LoadAll looped
// forever, allocating until the fuzzer's 2 GB memory limit. Run here under 1 GiB of address
// space as well as the time cap, so that a regression cannot take the machine's memory.
TEST(Reliability, StrayCommaInYamlIsASyntaxErrorNotAnEndlessLoop) {
  test::TempDir dir;
  auto run = [](const std::string& args) {
#ifdef SSMKIT_TEST_ASAN  // AddressSanitizer reserves terabytes of address space
    return run_capped(args);
#else
    return test::run_command("ulimit -v 1048576 && timeout -s KILL 20 " + test::ssmkit_binary() + " " + args);
#endif
  };
  const auto start = std::chrono::steady_clock::now();
  write(dir / "found.yaml", ",ame\xee");  // the fuzzer's input, byte for byte
  CliRun r = run("replay " + quoted(dir / "found.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "found.yaml:1:1: YAML syntax error: no value can start with ',' here"))
      << r.output;

  // After a first document, the stuck ',' starts the second one.
  write(dir / "later.yaml", "---\n,\n");
  r = run("replay " + quoted(dir / "later.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "later.yaml:2:1: YAML syntax error: no value can start with ','"))
      << r.output;

  // A real second document is still named as one, and a sweep file takes the same path.
  write(dir / "sweep.yaml", "name: s\n---\n,\n");
  r = run("sweep " + quoted(dir / "sweep.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "sweep.yaml:2:1: one YAML document; a second one starts here"))
      << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// --- Flag values ---------------------------------------------------------------------------

TEST(Reliability, EmptyAndNonUtf8FlagValuesExitTwoNamingTheFlag) {
  CliRun r = run_capped("budget --model mamba2-2.7b --gpu-mem '' --context 1k");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--gpu-mem: a value, got an empty string")) << r.output;
  // dash (popen's shell) has no $'...': printf writes the two bytes.
  r = run_capped("budget --model \"$(printf '\\377\\376.json')\" --gpu h100 --context 1k");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--model: text in UTF-8, got '\\xFF\\xFE.json'")) << r.output;
  r = run_capped("replay " + quoted(kSource / "scenarios" / "mamba2-2.7b-azure-conv.yaml") + " --limit -1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--limit: a positive number, got '-1'")) << r.output;
  EXPECT_FALSE(contains(r.output, "1.79769")) << r.output;
}

// A golden whose file name is not UTF-8 (found by listing a directory): the run goes on and
// the JSON report is still written, the name's bad bytes replaced.
TEST(Reliability, NonUtf8GoldenNameStillGetsAJsonReport) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "cases");
  std::filesystem::copy_file(kSource / "golden" / "causal_conv1d" / "basic_silu.h5",
                             dir / "cases" / "bad\xff name.h5");
  const CliRun r = run_capped("validate " + quoted(dir / "cases") + " --json " + quoted(dir / "r.json"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto doc = nlohmann::json::parse(read(dir / "r.json"));
  EXPECT_TRUE(contains(doc.dump(), "bad\xEF\xBF\xBD name")) << doc.dump().substr(0, 500);
}

// --- Goldens: wrong output shape, links, the guard ------------------------------------------

TEST(Reliability, GoldenOutputOfTheWrongShapeIsAnInputError) {
  test::TempDir dir;
  GoldenCase g = load_golden(kSource / "golden" / "causal_conv1d" / "basic_silu.h5");
  test::GoldenSpec spec;
  spec.op = g.op;
  spec.attrs = g.attrs;
  spec.attrs.erase("op");
  spec.inputs = g.inputs;
  const Tensor& out = g.outputs.begin()->second;
  Shape wrong = out.shape();
  wrong.back() += 1;
  spec.outputs[g.outputs.begin()->first] = Tensor(DType::float64, wrong);
  test::write_golden(dir / "c.h5", spec);
  const CliRun r = run_capped("validate " + quoted(dir / "c.h5"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  // Named by the op's shape checks, or, where those leave outputs alone, after the run.
  EXPECT_TRUE(contains(r.output, "c.h5: outputs/" + g.outputs.begin()->first)) << r.output;
  EXPECT_TRUE(contains(r.output, shape_str(wrong))) << r.output;
  EXPECT_FALSE(contains(r.output, "FAIL ")) << r.output;
}

TEST(Reliability, GoldenLinksAreRefused) {
  test::TempDir dir;
  const auto path = dir / "c.h5";
  std::filesystem::copy_file(kSource / "golden" / "causal_conv1d" / "basic_silu.h5", path);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  ASSERT_GE(H5Lcreate_soft("/inputs/x", file, "/inputs/y", H5P_DEFAULT, H5P_DEFAULT), 0);
  H5Fclose(file);
  try {
    load_golden(path);
    ADD_FAILURE() << "a soft link was read";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), path.string());
    EXPECT_EQ(e.field(), "inputs/y");
    EXPECT_TRUE(contains(e.expected(), "soft and external links are refused")) << e.what();
  }
}

// 2^26 elements declared (the per-case bound, not past it) in a small file with nothing stored:
// refused before 512 MiB are allocated.
TEST(Reliability, GoldenDatasetLargerThanItsFileIsRefusedBeforeAllocating) {
  test::TempDir dir;
  const auto path = dir / "c.h5";
  std::filesystem::copy_file(kSource / "golden" / "causal_conv1d" / "basic_silu.h5", path);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  H5Ldelete(file, "/inputs/x", H5P_DEFAULT);
  const hsize_t dims[1] = {hsize_t{1} << 26}, chunk[1] = {1024};
  const hid_t space = H5Screate_simple(1, dims, nullptr);
  const hid_t props = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(props, 1, chunk);
  const hid_t ds = H5Dcreate2(file, "inputs/x", H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, props, H5P_DEFAULT);
  ASSERT_GE(ds, 0);
  H5Dclose(ds);
  H5Pclose(props);
  H5Sclose(space);
  H5Fclose(file);
  try {
    load_golden(path);
    ADD_FAILURE() << "an empty 2^26-element dataset was read";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "inputs/x");
    EXPECT_TRUE(contains(e.expected(), "data that fits the file: 67108864 elements of 8 bytes")) << e.what();
  }
}

InputError probe_error(const std::function<void()>& read, unsigned seconds = 10) {
  try {
    probe_in_child("/some/case.h5", read, seconds);
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << "the child's failure was not reported";
  return InputError("", "", "");
}

// What libhdf5 did on hostile files (segfault, abort, an endless loop, runaway memory),
// done on purpose in the child: each is that file's input error, and this process lives.
TEST(Reliability, GuardTurnsACrashHangOrMemoryBlowupIntoAnInputError) {
  EXPECT_NO_THROW(probe_in_child("/some/case.h5", [] {}));
  // (Under AddressSanitizer a SEGV ends in the sanitizer's report and exit 1, not the signal.)
  InputError e = probe_error([] { std::raise(SIGSEGV); });
  EXPECT_EQ(e.where(), "/some/case.h5");
  EXPECT_TRUE(contains(e.expected(), "an HDF5 file the HDF5 library can read")) << e.what();
  e = probe_error([] { std::abort(); });
  EXPECT_TRUE(contains(e.expected(), "it crashed on it (Aborted)")) << e.what();
  const auto start = std::chrono::steady_clock::now();
  e = probe_error([] {
    volatile bool forever = true;
    while (forever) {
    }
  }, 1);
  EXPECT_TRUE(contains(e.expected(), "within limits::kGoldenReadSeconds = 1 s")) << e.what();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  e = probe_error([] { throw InputError("/some/case.h5", "inputs/x", "a dataset"); });
  EXPECT_EQ(e.field(), "inputs/x");
  EXPECT_EQ(e.expected(), "a dataset");
#ifndef SSMKIT_TEST_ASAN  // AddressSanitizer runs without an address-space limit
  e = probe_error([] {
    std::vector<std::unique_ptr<char[]>> hold;  // address space only: nothing is touched
    for (;;) hold.emplace_back(new char[std::size_t{256} << 20]);
  });
  EXPECT_TRUE(contains(e.expected(), "GiB of memory")) << e.what();
#endif
}

// One changed byte anywhere in a bundled golden: loads, or is that file's input error;
// never a crash of this process (the child takes it).
TEST(Reliability, CorruptedGoldenBytesNeverTakeTheProcessDown) {
  test::TempDir dir;
  const auto original = read(kSource / "golden" / "causal_conv1d" / "basic_silu.h5");
  int errors = 0, loaded = 0;
  for (std::size_t at = 0; at < original.size(); at += original.size() / 97 + 1) {
    std::string bytes = original;
    bytes[at] = static_cast<char>(bytes[at] ^ 0xFF);
    write(dir / "c.h5", bytes);
    try {
      load_golden(dir / "c.h5");
      ++loaded;
    } catch (const InputError& e) {
      EXPECT_TRUE(contains(e.what(), (dir / "c.h5").string())) << e.what();
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(loaded, 0);
}

// --- Outputs: atomic files, sweep shards ---------------------------------------------------

TEST(Reliability, OutputFilesAppearWholeOrNotAtAll) {
  test::TempDir dir;
  write(dir / "r.json", "old");
  write_file_atomically(dir / "r.json", "new", "--json");
  EXPECT_EQ(read(dir / "r.json"), "new");
  try {
    Hdf5Writer w(dir / "snap.h5");
    w.write_attribute("op", std::string("x"));
    throw std::runtime_error("killed midway");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "snap.h5"));
  {
    Hdf5Writer w(dir / "snap.h5");
    w.write_attribute("op", std::string("x"));
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "snap.h5"));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_FALSE(contains(entry.path().filename().string(), ".tmp-")) << entry.path();
    ++files;
  }
  EXPECT_EQ(files, 2);
}

TEST(Reliability, SweepShardKilledMidwayIsRefusedByMergeAndResumed) {
  test::TempDir dir;
  const std::string sweep = quoted(kSource / "scenarios" / "sweep-jamba-page-size.yaml");
  // Exit 0 or 1 (the points' own checks); 2 would be an input error.
  CliRun r = run_capped("sweep " + sweep + " --shard 0/2 --json " + quoted(dir / "s0.json"));
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.output;
  r = run_capped("sweep " + sweep + " --shard 1/2 --json " + quoted(dir / "s1.json"));
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.output;
  // What a shard killed after its first point leaves: that point, complete: false. The
  // kept point is marked, to see that --resume keeps it rather than running it again.
  auto doc = nlohmann::ordered_json::parse(read(dir / "s1.json"));
  EXPECT_EQ(doc["complete"], true);
  ASSERT_EQ(doc["points"].size(), 3u);
  doc["complete"] = false;
  doc["points"].erase(doc["points"].begin() + 1, doc["points"].end());
  doc["points"][0]["message"] = "kept from the killed run";
  write(dir / "s1.json", doc.dump(2));
  r = run_capped("sweep merge " + quoted(dir / "all.json") + " " + quoted(dir / "s0.json") + " " +
                 quoted(dir / "s1.json"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, (dir / "s1.json").string() +
                                     ": complete: a finished shard; this one was stopped after 1 of its points"))
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "all.json"));

  r = run_capped("sweep " + sweep + " --shard 1/2 --json " + quoted(dir / "s1.json") + " --resume");
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.output;
  doc = nlohmann::ordered_json::parse(read(dir / "s1.json"));
  EXPECT_EQ(doc["complete"], true);
  ASSERT_EQ(doc["points"].size(), 3u);
  EXPECT_EQ(doc["points"][0]["message"], "kept from the killed run");
  EXPECT_EQ(doc["points"][0]["index"], 1);
  EXPECT_EQ(doc["points"][2]["index"], 5);
  r = run_capped("sweep merge " + quoted(dir / "all.json") + " " + quoted(dir / "s0.json") + " " +
                 quoted(dir / "s1.json"));
  EXPECT_NE(r.exit_code, 2) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "all.json"));
  // A --resume of another shard's file is refused by name.
  r = run_capped("sweep " + sweep + " --shard 0/2 --json " + quoted(dir / "s1.json") + " --resume");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "s1.json: --resume: the results of this sweep")) << r.output;
}

}  // namespace
}  // namespace ssmkit
