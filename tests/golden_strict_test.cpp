// Strict goldens, `validate --candidate` and `golden make`, end to end through the binary:
// a misspelled name is never skipped, candidates are compared with the roles the right way
// round, and a made golden's outputs match formulas written here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/golden.hpp"
#include "ssmkit/op_case.hpp"
#include "ssmkit/hdf5_file.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using test::quoted;
using test::run_ssmkit;

const std::filesystem::path kGolden = test::source_dir() / "golden";

test::GoldenSpec read_spec(const std::filesystem::path& path) {
  Hdf5Reader r(path);
  test::GoldenSpec s;
  for (const auto& name : r.attribute_names("/")) s.attrs[name] = r.read_attribute(name);
  s.op = std::get<std::string>(s.attrs.at("op"));
  s.attrs.erase("op");
  for (const auto& name : r.members("inputs")) s.inputs[name] = r.read_tensor("inputs/" + name);
  for (const auto& name : r.members("outputs")) s.outputs[name] = r.read_tensor("outputs/" + name);
  return s;
}

// A copy of a bundled golden with one edit.
std::filesystem::path edited_copy(const std::string& bundled, const test::TempDir& dir,
                                  const std::function<void(test::GoldenSpec&)>& edit) {
  test::GoldenSpec s = read_spec(kGolden / bundled);
  edit(s);
  const auto out = dir / std::filesystem::path(bundled).filename();
  test::write_golden(out, s);
  return out;
}

void rename(std::map<std::string, Tensor>& m, const std::string& from, const std::string& to) {
  m[to] = m.at(from);
  m.erase(from);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(GoldenStrict, MisspelledInputIsAnInputErrorWithASuggestion) {
  test::TempDir dir;
  const auto path = edited_copy("mamba_chunk_scan_combined/basic_d_per_head.h5", dir,
                                [](auto& s) { rename(s.inputs, "dt_bias", "delta_bias"); });
  const auto r = run_ssmkit("validate --backend cpu " + quoted(path));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "dataset 'inputs/delta_bias'")) << r.output;
  EXPECT_TRUE(has(r.output, "did you mean 'dt_bias'?")) << r.output;
  EXPECT_TRUE(has(r.output, "It takes: x, dt, A, B, C, D, z, dt_bias, initial_states")) << r.output;
}

TEST(GoldenStrict, MisspelledOutputIsAnInputErrorNotASkip) {
  test::TempDir dir;
  const auto path = edited_copy("mamba_chunk_scan_combined/basic_d_per_head.h5", dir,
                                [](auto& s) { rename(s.outputs, "final_states", "final_state"); });
  const auto r = run_ssmkit("validate --backend cpu " + quoted(path));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "dataset 'outputs/final_state'")) << r.output;
  EXPECT_TRUE(has(r.output, "did you mean 'final_states'?")) << r.output;
}

TEST(GoldenStrict, MisspelledFlagAttributeNamesBoth) {
  test::TempDir dir;
  const auto path = edited_copy("mamba_chunk_scan_combined/basic_d_per_head.h5", dir, [](auto& s) {
    s.attrs["dt_softpls"] = s.attrs.at("dt_softplus");
    s.attrs.erase("dt_softplus");
  });
  const auto r = run_ssmkit("validate --backend cpu " + quoted(path));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "attribute 'dt_softpls'")) << r.output;
  EXPECT_TRUE(has(r.output, "misspelling of 'dt_softplus'")) << r.output;
}

TEST(GoldenStrict, FreeMetadataAttributesValidateAndAreListed) {
  test::TempDir dir;
  const auto path = edited_copy("selective_scan/basic.h5", dir, [](auto& s) {
    s.attrs["notes"] = std::string("copied for a test");
    s.attrs["checks"] = std::vector<double>{3.0};
  });
  const auto json = dir / "report.json";
  const auto r = run_ssmkit("validate --backend cpu --json " + quoted(json) + " " + quoted(path));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "/basic: attributes the op does not read "
                            "(kept as metadata): checks, notes"))
      << r.output;
  const auto doc = nlohmann::json::parse(read_text(json));
  EXPECT_EQ(doc["cases"][0]["free_attributes"], nlohmann::json::array({"checks", "notes"}));
}

// Every bundled golden, misspelled three ways in memory: its first input, its first output
// and (where its op has flags) a flag, each one letter short. Each is an input error naming
// the misspelled name.
TEST(GoldenStrict, EveryBundledGoldenRejectsEachKindOfMisspelling) {
  int files = 0, flags = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(kGolden)) {
    if (e.path().extension() != ".h5") continue;
    ++files;
    const GoldenCase original = load_golden(e.path());
    auto expect_error = [&](const GoldenCase& g, const std::string& field) {
      try {
        make_op_case(g);
        ADD_FAILURE() << e.path() << ": no error for " << field;
      } catch (const InputError& err) {
        EXPECT_TRUE(has(err.what(), field)) << err.what();
      }
    };
    for (auto group : {&GoldenCase::inputs, &GoldenCase::outputs}) {
      GoldenCase g = original;
      auto& datasets = g.*group;
      const std::string name = datasets.begin()->first;
      const std::string wrong = name + "x";
      datasets[wrong] = datasets.at(name);
      datasets.erase(name);
      expect_error(g, (group == &GoldenCase::inputs ? "inputs/" : "outputs/") + wrong);
    }
    const auto op_flags = golden_names_of(original).flags;
    if (op_flags.empty()) continue;
    GoldenCase g = original;
    const std::string wrong = op_flags.front().substr(0, op_flags.front().size() - 1);
    g.attrs[wrong] = std::vector<double>{1.0};
    g.attrs.erase(op_flags.front());
    expect_error(g, "attribute '" + wrong + "'");
    ++flags;
  }
  EXPECT_GE(files, 40);
  EXPECT_GE(flags, 30);
}

// Every bundled case compares every output its file holds, and the report says which.
TEST(GoldenStrict, EveryBundledExpectedOutputIsCompared) {
  test::TempDir dir;
  const auto json = dir / "report.json";
  const auto r = run_ssmkit("validate --backend cpu --json " + quoted(json));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto doc = nlohmann::json::parse(read_text(json));
  ASSERT_GE(doc["cases"].size(), 40u);
  for (const auto& c : doc["cases"]) {
    std::vector<std::string> compared;
    for (const auto& o : c["outputs"]) compared.push_back(o["name"]);
    std::vector<std::string> in_file = Hdf5Reader(c["path"].get<std::string>()).members("outputs");
    EXPECT_EQ(compared, in_file) << c["case"];
  }
}

TEST(GoldenStrict, OutputTheCallDoesNotProduceFails) {
  // varlen_states without cu_seqlens: an expected output nobody computes must not pass.
  test::TempDir dir;
  const auto path = edited_copy("mamba_chunk_scan_combined/basic_d_per_head.h5", dir, [](auto& s) {
    s.outputs["varlen_states"] = s.outputs.at("final_states");
  });
  const auto r = run_ssmkit("validate --backend cpu " + quoted(path));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(has(r.output, "varlen_states: the cpu backend returned no output of this name"))
      << r.output;
}

// ---- candidates ----------------------------------------------------------------------------

void write_candidate(const std::filesystem::path& path, const std::map<std::string, Tensor>& outputs,
                     const std::map<std::string, std::string>& attrs = {}) {
  Hdf5Writer w(path);
  for (const auto& [k, v] : attrs) w.write_attribute(k, v);
  for (const auto& [k, v] : outputs) w.write_tensor("outputs/" + k, v);
}

TEST(GoldenCandidate, ExpectedOutputsPassUnderTheCandidatesName) {
  test::TempDir dir;
  const auto golden = kGolden / "selective_scan/basic.h5";
  write_candidate(dir / "basic.h5", read_spec(golden).outputs, {{"implementation", "my_scan"}});
  const auto json = dir / "r.json";
  const auto r = run_ssmkit("validate --json " + quoted(json) + " --candidate " +
                            quoted(dir / "basic.h5") + " " + quoted(golden));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto doc = nlohmann::json::parse(read_text(json));
  ASSERT_EQ(doc["cases"].size(), 1u);
  EXPECT_EQ(doc["cases"][0]["backend"], "my_scan");
  EXPECT_EQ(doc["cases"][0]["outputs"].size(), 2u);
}

TEST(GoldenCandidate, WrongValueFailsWithGotTheCandidateAndExpectedTheReference) {
  test::TempDir dir;
  const auto golden = kGolden / "selective_scan/basic.h5";
  auto outputs = read_spec(golden).outputs;
  Tensor out = outputs.at("out").to(DType::float64);
  const double reference = out.span<double>()[0];
  out.span<double>()[0] = reference + 1.0;
  outputs["out"] = out;
  write_candidate(dir / "mine.h5", outputs, {{"golden", "basic.h5"}});
  const auto json = dir / "r.json";
  const auto r = run_ssmkit("validate --json " + quoted(json) + " --candidate " +
                            quoted(dir / "mine.h5") + " " + quoted(golden));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const auto doc = nlohmann::json::parse(read_text(json));
  const auto& o = doc["cases"][0]["outputs"];
  const auto& bad = o[0]["name"] == "out" ? o[0] : o[1];
  EXPECT_EQ(bad["worst_index"], "[0, 0, 0]");
  EXPECT_DOUBLE_EQ(bad["worst_actual"].get<double>(), reference + 1.0);
  EXPECT_DOUBLE_EQ(bad["worst_expected"].get<double>(), reference);
  EXPECT_EQ(doc["cases"][0]["backend"], "mine");
}

TEST(GoldenCandidate, MissingOutputFailsNamingIt) {
  test::TempDir dir;
  const auto golden = kGolden / "selective_scan/basic.h5";
  auto outputs = read_spec(golden).outputs;
  outputs.erase("last_state");
  write_candidate(dir / "basic.h5", outputs);
  const auto r = run_ssmkit("validate --candidate " + quoted(dir / "basic.h5") + " " + quoted(golden));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(has(r.output, "last_state: candidate")) << r.output;
}

TEST(GoldenCandidate, UnknownDatasetOrUnmatchedFileIsAnInputError) {
  test::TempDir dir;
  const auto golden = kGolden / "selective_scan/basic.h5";
  auto outputs = read_spec(golden).outputs;
  outputs["last_states"] = outputs.at("last_state");
  write_candidate(dir / "basic.h5", outputs);
  auto r = run_ssmkit("validate --candidate " + quoted(dir / "basic.h5") + " " + quoted(golden));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "dataset 'outputs/last_states'")) << r.output;
  EXPECT_TRUE(has(r.output, "did you mean 'last_state'?")) << r.output;

  write_candidate(dir / "other.h5", read_spec(golden).outputs);
  r = run_ssmkit("validate --candidate " + quoted(dir / "other.h5") + " " + quoted(golden));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "other.h5: file name")) << r.output;
}

TEST(GoldenCandidate, MalformedCandidateFilesAreInputErrors) {
  test::TempDir dir;
  const auto golden = kGolden / "selective_scan/basic.h5";
  {
    Hdf5Writer w(dir / "basic.h5");
    w.write_attribute("implementation", std::vector<double>{1.0});
    w.write_tensor("outputs/out", read_spec(golden).outputs.at("out"));
  }
  auto r = run_ssmkit("validate --candidate " + quoted(dir / "basic.h5") + " " + quoted(golden));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "attribute 'implementation': expected a non-empty string")) << r.output;
  {
    Hdf5Writer w(dir / "empty.h5");
    w.write_attribute("golden", std::string("basic.h5"));
  }
  r = run_ssmkit("validate --candidate " + quoted(dir / "empty.h5") + " " + quoted(golden));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "empty.h5: group 'outputs': group is missing")) << r.output;
  r = run_ssmkit("validate --candidate " + quoted(dir / "none.h5") + " " + quoted(golden));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "none.h5")) << r.output;
}

// ---- golden make ---------------------------------------------------------------------------

TEST(GoldenMake, BadFlagsExitTwoNamingThem) {
  test::TempDir dir;
  const std::string out = " -o " + quoted(dir / "g.h5");
  struct Case {
    std::string args, message;
  };
  for (const auto& c : std::vector<Case>{
           {"--op causal_conv1 --model mamba-130m", "--op: causal_conv1"},
           {"--op causal_conv1d --model no-such-model", "no-such-model"},
           {"--op causal_conv1d --model mamba-130m --dim dimm=4", "--dim: dimm: not a dimension"},
           {"--op causal_conv1d --model mamba-130m --dim dim=x", "--dim: dim=x"},
           {"--op causal_conv1d --model mamba-130m --dtype int8", "--dtype: int8"},
           {"--op causal_conv1d --model mamba-130m --batch 0", "--batch: 0"},
           {"--op causal_conv1d --model mamba-130m --dim dim=4 --without biass", "did you mean 'bias'?"},
           {"--op causal_conv1d --model mamba-130m --dim dim=4 --without x", "inputs/x"},
           {"--op lightning_attention --model mamba-130m", "--model: mamba-130m: has no layer"},
           {"--op selective_scan --model mamba-130m --varlen 2", "--varlen"},
       }) {
    const auto r = run_ssmkit("golden make " + c.args + out);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_TRUE(has(r.output, c.message)) << c.args << "\n" << r.output;
  }
}

// The made golden's outputs against a causal conv written here (out[b,d,t] = silu(bias[d] +
// sum_k w[d,k] x[b,d,t-W+1+k]), with initial states before t = 0).
TEST(GoldenMake, ConvGoldenMatchesAHandWrittenConvAndRecordsItsSettings) {
  test::TempDir dir;
  const auto path = dir / "conv.h5";
  const auto r = run_ssmkit("golden make --op causal_conv1d --model mamba-130m --batch 2 "
                            "--seqlen 5 --dim dim=3 --dtype bfloat16 --seed 7 --initial-states -o " +
                            quoted(path));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const GoldenCase g = load_golden(path);
  EXPECT_EQ(g.text("reference", ""), "ssmkit golden make (CPU float64 reference)");
  EXPECT_EQ(g.number("seed", -1), 7);
  EXPECT_EQ(g.text("model", ""), "mamba-130m");
  EXPECT_EQ(g.input_dtype, DType::bfloat16);
  const Tensor &x = g.inputs.at("x"), &w = g.inputs.at("weight"), &b = g.inputs.at("bias"),
               &init = g.inputs.at("initial_states");
  ASSERT_EQ(x.shape(), (Shape{2, 3, 5}));
  const std::int64_t W = w.shape()[1];
  // bf16 values: 8 significant bits, so x * 2^k is an integer for some k <= 133.
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const float f = static_cast<float>(x.value(i));
    std::uint32_t bits;
    std::memcpy(&bits, &f, 4);
    EXPECT_EQ(bits & 0xFFFFu, 0u) << "x[" << i << "] is not bfloat16";
  }
  const Tensor& out = g.outputs.at("out");
  for (std::int64_t bb = 0; bb < 2; ++bb) {
    for (std::int64_t d = 0; d < 3; ++d) {
      for (std::int64_t t = 0; t < 5; ++t) {
        double acc = b.value(d);
        for (std::int64_t k = 0; k < W; ++k) {
          const std::int64_t src = t - (W - 1) + k;
          const double v = src >= 0 ? x.value((bb * 3 + d) * 5 + src)
                                    : init.value((bb * 3 + d) * (W - 1) + (W - 1 + src));
          acc += w.value(d * W + k) * v;
        }
        const double expected = acc / (1.0 + std::exp(-acc));
        EXPECT_NEAR(out.value((bb * 3 + d) * 5 + t), expected, 1e-12);
      }
    }
  }
}

TEST(GoldenMake, ChunkScanOptionsAndValidation) {
  test::TempDir dir;
  const auto path = dir / "scan.h5";
  const auto r = run_ssmkit(
      "golden make --op mamba_chunk_scan_combined --model mamba2-2.7b --batch 1 --seqlen 24 "
      "--dim nheads=4 --dim headdim=4 --dim dstate=8 --dim chunk_size=8 --varlen 3 "
      "--initial-states --without D --without z -o " + quoted(path));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const GoldenCase g = load_golden(path);
  EXPECT_EQ(g.inputs.count("D"), 0u);
  EXPECT_EQ(g.inputs.count("z"), 0u);
  ASSERT_EQ(g.inputs.count("cu_seqlens"), 1u);
  EXPECT_EQ(g.inputs.at("cu_seqlens").shape(), (Shape{4}));
  EXPECT_EQ(g.outputs.at("varlen_states").shape()[0], 3);
  EXPECT_EQ(g.inputs.at("initial_states").shape(), (Shape{1, 4, 4, 8}));
  const auto v = run_ssmkit("validate --backend cpu " + quoted(path));
  EXPECT_EQ(v.exit_code, 0) << v.output;
}

}  // namespace
}  // namespace ssmkit
