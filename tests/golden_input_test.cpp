// Every way a golden file can be wrong gives an InputError that names the file, the
// dataset or attribute, and what was expected.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <fstream>

#include "ssmkit/error.hpp"
#include "ssmkit/golden.hpp"
#include "ssmkit/op_case.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

using test::GoldenSpec;
using test::random_tensor;

GoldenSpec valid_conv() {
  std::mt19937 rng(1);
  GoldenSpec s;
  s.op = "causal_conv1d";
  s.attrs["activation"] = std::string("silu");
  s.inputs["x"] = random_tensor({2, 4, 5}, rng).to(DType::float32);
  s.inputs["weight"] = random_tensor({4, 3}, rng).to(DType::float32);
  s.outputs["out"] = random_tensor({2, 4, 5}, rng);
  return s;
}

// Loads the file and builds its op case; returns the InputError message ("" if none).
std::string error_of(const std::filesystem::path& path) {
  try {
    make_op_case(load_golden(path));
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::string error_of(const GoldenSpec& spec, const test::TempDir& dir) {
  const auto path = dir / "case.h5";
  test::write_golden(path, spec);
  return error_of(path);
}

TEST(GoldenInput, ValidCaseLoads) {
  test::TempDir dir;
  EXPECT_EQ(error_of(valid_conv(), dir), "");
}

TEST(GoldenInput, MissingFile) {
  EXPECT_EQ(error_of("/nonexistent/case.h5"), "/nonexistent/case.h5: file not found");
}

TEST(GoldenInput, NotHdf5) {
  test::TempDir dir;
  std::ofstream(dir / "text.h5") << "op: selective_scan\n";
  EXPECT_NE(error_of(dir / "text.h5").find("not an HDF5 file"), std::string::npos);
}

TEST(GoldenInput, TruncatedFile) {
  test::TempDir dir;
  GoldenSpec spec = valid_conv();
  std::mt19937 rng(2);
  spec.inputs["x"] = random_tensor({4, 64, 256}, rng);  // big enough that data is at the end
  test::write_golden(dir / "full.h5", spec);
  const auto size = std::filesystem::file_size(dir / "full.h5");
  for (double keep : {0.9, 0.5, 0.01}) {
    std::filesystem::copy_file(dir / "full.h5", dir / "cut.h5",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(dir / "cut.h5", static_cast<std::uintmax_t>(size * keep));
    const std::string err = error_of(dir / "cut.h5");
    EXPECT_NE(err.find((dir / "cut.h5").string()), std::string::npos) << keep << ": " << err;
    EXPECT_TRUE(err.find("truncated") != std::string::npos ||
                err.find("not an HDF5 file") != std::string::npos)
        << keep << ": " << err;
  }
}

TEST(GoldenInput, UnknownOpListsTheKnownOnes) {
  test::TempDir dir;
  GoldenSpec spec = valid_conv();
  spec.op = "flash_attention";
  const std::string err = error_of(spec, dir);
  EXPECT_NE(err.find("attribute 'op': unknown operation 'flash_attention'"), std::string::npos)
      << err;
  EXPECT_NE(err.find("mamba_chunk_scan_combined"), std::string::npos);
}

TEST(GoldenInput, MissingOpAttribute) {
  test::TempDir dir;
  Hdf5Writer(dir / "noop.h5").write_tensor("inputs/x", Tensor(DType::float32, {1}));
  EXPECT_NE(error_of(dir / "noop.h5").find("attribute 'op'"), std::string::npos);
}

TEST(GoldenInput, MissingDataset) {
  test::TempDir dir;
  GoldenSpec spec = valid_conv();
  spec.inputs.erase("weight");
  const std::string err = error_of(spec, dir);
  EXPECT_NE(err.find("inputs/weight: dataset is missing; expected shape (D=4, W)"),
            std::string::npos)
      << err;
}

// A header can declare any size: past what a golden holds, the dataset is that file's input
// error before anything is allocated (a 10^12-element one ended the whole validate run).
TEST(GoldenInput, HugeDeclaredDatasetIsAnInputError) {
  test::TempDir dir;
  const auto path = dir / "case.h5";
  GoldenSpec spec = valid_conv();
  spec.inputs.erase("x");
  test::write_golden(path, spec);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hsize_t dims[3] = {100000, 100000, 100}, chunk[3] = {1, 1, 100};
  const hid_t space = H5Screate_simple(3, dims, nullptr);
  const hid_t props = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(props, 3, chunk);  // chunked and never written: the file stays small
  const hid_t ds = H5Dcreate2(file, "inputs/x", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, props, H5P_DEFAULT);
  ASSERT_GE(ds, 0);
  H5Dclose(ds);
  H5Pclose(props);
  H5Sclose(space);
  H5Fclose(file);
  const std::string err = error_of(path);
  EXPECT_NE(err.find("inputs/x: at most limits::kMaxGoldenElementsPerCase = 67108864 elements"), std::string::npos) << err;
}

TEST(GoldenInput, MisshapedDataset) {
  test::TempDir dir;
  GoldenSpec spec = valid_conv();
  spec.inputs["weight"] = Tensor(DType::float32, {4, 3, 1});
  const std::string err = error_of(spec, dir);
  EXPECT_NE(err.find("inputs/weight: expected shape (D=4, W), got (4, 3, 1)"), std::string::npos)
      << err;
}

TEST(GoldenInput, InconsistentDimensions) {
  test::TempDir dir;
  GoldenSpec spec = valid_conv();
  spec.inputs["bias"] = Tensor(DType::float32, {5});
  std::string err = error_of(spec, dir);
  EXPECT_NE(err.find("inputs/bias: expected shape (D=4), got (5,)"), std::string::npos) << err;

  GoldenSpec ssd;
  ssd.op = "mamba_chunk_scan_combined";
  ssd.inputs["x"] = Tensor(DType::float32, {1, 8, 6, 2});
  ssd.inputs["dt"] = Tensor(DType::float32, {1, 8, 6});
  ssd.inputs["A"] = Tensor(DType::float32, {6});
  ssd.inputs["B"] = Tensor(DType::float32, {1, 8, 4, 3});
  ssd.inputs["C"] = Tensor(DType::float32, {1, 8, 4, 3});
  ssd.outputs["out"] = Tensor(DType::float64, {1, 8, 6, 2});
  err = error_of(ssd, dir);
  EXPECT_NE(err.find("dimension H=6 must be a multiple of G=4"), std::string::npos) << err;
}

TEST(GoldenInput, BadAttributes) {
  test::TempDir dir;
  GoldenSpec spec = valid_conv();
  spec.attrs["activation"] = std::string("gelu");
  EXPECT_NE(error_of(spec, dir).find("attribute 'activation': expected \"silu\""),
            std::string::npos);
  spec = valid_conv();
  spec.attrs["input_dtype"] = std::string("int8");
  EXPECT_NE(error_of(spec, dir).find("attribute 'input_dtype'"), std::string::npos);
  spec = valid_conv();
  spec.attrs["atol"] = std::string("loose");
  EXPECT_NE(error_of(spec, dir).find("attribute 'atol': expected a single number"),
            std::string::npos);
}

TEST(GoldenInput, ChunkScanAttributesAndPacking) {
  test::TempDir dir;
  GoldenSpec ssd;
  ssd.op = "mamba_chunk_scan_combined";
  ssd.inputs["x"] = Tensor(DType::float32, {1, 8, 2, 2});
  ssd.inputs["dt"] = Tensor(DType::float32, {1, 8, 2});
  ssd.inputs["A"] = Tensor(DType::float32, {2});
  ssd.inputs["B"] = Tensor(DType::float32, {1, 8, 1, 3});
  ssd.inputs["C"] = Tensor(DType::float32, {1, 8, 1, 3});
  ssd.outputs["out"] = Tensor(DType::float64, {1, 8, 2, 2});
  EXPECT_EQ(error_of(ssd, dir), "");

  GoldenSpec bad = ssd;
  bad.attrs["chunk_size"] = std::vector<double>{0};
  EXPECT_NE(error_of(bad, dir).find("attribute 'chunk_size': expected a positive integer"),
            std::string::npos);
  bad = ssd;
  bad.attrs["chunk_size"] = std::vector<double>{2.5};
  EXPECT_NE(error_of(bad, dir).find("attribute 'chunk_size': expected an integer"),
            std::string::npos);
  bad = ssd;
  bad.attrs["chunk_size"] = std::vector<double>{1e300};  // was reported as -9223372036854775808
  EXPECT_NE(error_of(bad, dir).find("attribute 'chunk_size': expected an integer of at most 2^53"),
            std::string::npos)
      << error_of(bad, dir);
  bad = ssd;
  bad.attrs["dt_limit"] = std::vector<double>{1.0, 0.5};
  EXPECT_NE(error_of(bad, dir).find("attribute 'dt_limit'"), std::string::npos);
  bad = ssd;
  bad.inputs["cu_seqlens"] = Tensor::from_vector<std::int32_t>({3}, {0, 5, 7});
  EXPECT_NE(error_of(bad, dir).find("inputs/cu_seqlens: expected offsets from 0 to L=8"),
            std::string::npos)
      << error_of(bad, dir);
  bad = ssd;
  bad.inputs["cu_seqlens"] = Tensor::from_vector<double>({3}, {0, 5, 8});
  EXPECT_NE(error_of(bad, dir).find("inputs/cu_seqlens: expected an integer dataset"),
            std::string::npos);
  bad = ssd;
  bad.inputs["cu_seqlens"] = Tensor::from_vector<std::int32_t>({3}, {0, 5, 8});
  bad.inputs["seq_idx"] = Tensor::from_vector<std::int32_t>({1, 8}, {0, 0, 0, 0, 1, 1, 1, 1});
  EXPECT_NE(error_of(bad, dir).find("inputs/seq_idx: disagrees with cu_seqlens"),
            std::string::npos)
      << error_of(bad, dir);
}

TEST(GoldenInput, StateUpdateSlotOutOfRange) {
  test::TempDir dir;
  GoldenSpec s;
  s.op = "selective_state_update";
  s.inputs["state"] = Tensor(DType::float32, {4, 2, 3});
  s.inputs["x"] = Tensor(DType::float32, {2, 2});
  s.inputs["dt"] = Tensor(DType::float32, {2, 2});
  s.inputs["A"] = Tensor(DType::float32, {2, 3});
  s.inputs["B"] = Tensor(DType::float32, {2, 3});
  s.inputs["C"] = Tensor(DType::float32, {2, 3});
  s.outputs["out"] = Tensor(DType::float64, {2, 2});
  // Without state_batch_indices the state's batch must be x's.
  EXPECT_NE(error_of(s, dir).find("inputs/state: has 4 slots but x has batch 2"), std::string::npos)
      << error_of(s, dir);
  s.inputs["state_batch_indices"] = Tensor::from_vector<std::int32_t>({2}, {3, -1});
  EXPECT_EQ(error_of(s, dir), "");
  s.inputs["state_batch_indices"] = Tensor::from_vector<std::int32_t>({2}, {4, 0});
  EXPECT_NE(error_of(s, dir).find("slot 4 is outside [0, 4)"), std::string::npos);
}

}  // namespace
}  // namespace ssmkit

namespace ssmkit {
namespace {

TEST(GoldenInput, CacheReplayShapesAreChecked) {
  test::TempDir dir;
  test::GoldenSpec s;
  s.op = "mamba2_cache_replay";
  s.attrs = {{"num_heads", std::vector<double>{2}}, {"head_dim", std::vector<double>{4}},
             {"n_groups", std::vector<double>{1}}, {"state_size", std::vector<double>{3}}};
  s.inputs["conv_weight"] = Tensor(DType::float32, {13, 4});  // C should be 2*4 + 2*3 = 14
  s.outputs["conv_state"] = Tensor(DType::float64, {1});
  const auto path = dir / "replay.h5";
  test::write_golden(path, s);
  std::string err;
  try {
    make_op_case(load_golden(path));
  } catch (const InputError& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("inputs/conv_weight: expected shape (C=14, W), got (13, 4)"),
            std::string::npos)
      << err;
}

// The replay's attributes describe the mixer the golden came from; each bad value is named.
TEST(GoldenInput, CacheReplayAttributesAreChecked) {
  test::TempDir dir;
  const auto with = [&](const std::string& name, std::vector<double> value) {
    test::GoldenSpec s;
    s.op = "mamba2_cache_replay";
    s.attrs = {{"num_heads", std::vector<double>{2}}, {"head_dim", std::vector<double>{4}},
               {"n_groups", std::vector<double>{1}}, {"state_size", std::vector<double>{3}}};
    s.attrs[name] = value;
    s.inputs["conv_weight"] = Tensor(DType::float32, {14, 4});
    s.outputs["conv_state"] = Tensor(DType::float64, {1});
    return error_of(s, dir);
  };
  EXPECT_NE(with("head_dim", {0}).find("attribute 'head_dim': expected a positive integer"),
            std::string::npos);
  EXPECT_NE(with("num_heads", {-2}).find("attribute 'num_heads': expected a positive integer"),
            std::string::npos);
  EXPECT_NE(with("n_groups", {3}).find("attribute 'n_groups': must divide num_heads"),
            std::string::npos);
  EXPECT_NE(with("time_step_limit", {0.001, 0.1}).find("attribute 'time_step_limit'"),
            std::string::npos);
}

}  // namespace
}  // namespace ssmkit

namespace ssmkit {
namespace {

test::GoldenSpec delta_rule(const std::string& op, std::int64_t B, std::int64_t T, std::int64_t H,
                            std::int64_t HV) {
  test::GoldenSpec s;
  s.op = op;
  const bool per_key = op.rfind("kda", 0) == 0;
  s.inputs["q"] = Tensor(DType::float32, {B, T, H, 4});
  s.inputs["k"] = Tensor(DType::float32, {B, T, H, 4});
  s.inputs["v"] = Tensor(DType::float32, {B, T, HV, 3});
  s.inputs["g"] = per_key ? Tensor(DType::float32, {B, T, HV, 4}) : Tensor(DType::float32, {B, T, HV});
  s.inputs["beta"] = Tensor(DType::float32, {B, T, HV});
  s.outputs["o"] = Tensor(DType::float64, {B, T, HV, 3});
  return s;
}

// The delta-rule ops: grouped heads must divide, packed sequences need batch 1 and offsets
// that cover the tokens, a per-key decay is (B, T, HV, K), pool slots are in range and
// never shared.
TEST(GoldenInput, DeltaRuleShapesAndSlotsAreChecked) {
  test::TempDir dir;
  EXPECT_EQ(error_of(delta_rule("gated_delta_rule", 2, 5, 2, 4), dir), "");
  EXPECT_NE(error_of(delta_rule("gated_delta_rule", 2, 5, 2, 3), dir).find("HV"), std::string::npos)
      << error_of(delta_rule("gated_delta_rule", 2, 5, 2, 3), dir);

  auto packed = delta_rule("gated_delta_rule", 2, 5, 1, 1);
  packed.inputs["cu_seqlens"] = Tensor::from_vector<std::int32_t>({3}, {0, 2, 5});
  EXPECT_NE(error_of(packed, dir).find("inputs/cu_seqlens: packed sequences need batch B=1"),
            std::string::npos)
      << error_of(packed, dir);
  packed = delta_rule("gated_delta_rule", 1, 5, 1, 1);
  packed.inputs["cu_seqlens"] = Tensor::from_vector<std::int32_t>({3}, {0, 2, 4});
  EXPECT_NE(error_of(packed, dir).find("expected offsets from 0 to L=5"), std::string::npos)
      << error_of(packed, dir);
  packed.inputs["cu_seqlens"] = Tensor::from_vector<std::int32_t>({3}, {0, 2, 5});
  packed.inputs["initial_state"] = Tensor(DType::float32, {3, 1, 4, 3});  // 2 sequences
  EXPECT_NE(error_of(packed, dir).find("inputs/initial_state"), std::string::npos) << error_of(packed, dir);

  auto kda = delta_rule("kda", 1, 5, 1, 1);
  kda.inputs["g"] = Tensor(DType::float32, {1, 5, 1});  // one decay per head: GDN's, not KDA's
  EXPECT_NE(error_of(kda, dir).find("inputs/g"), std::string::npos) << error_of(kda, dir);

  auto update = delta_rule("gated_delta_rule_update", 3, 1, 1, 1);
  update.inputs["initial_state"] = Tensor(DType::float32, {4, 1, 4, 3});
  EXPECT_NE(error_of(update, dir).find("has 4 slots but q has batch 3"), std::string::npos)
      << error_of(update, dir);
  update.inputs["ssm_state_indices"] = Tensor::from_vector<std::int32_t>({3}, {3, -1, 0});
  EXPECT_EQ(error_of(update, dir), "");
  update.inputs["ssm_state_indices"] = Tensor::from_vector<std::int32_t>({3}, {3, 4, 0});
  EXPECT_NE(error_of(update, dir).find("inputs/ssm_state_indices: slot 4 is outside [0, 4)"),
            std::string::npos)
      << error_of(update, dir);
  update.inputs["ssm_state_indices"] = Tensor::from_vector<std::int32_t>({3}, {2, -1, 2});
  EXPECT_NE(error_of(update, dir).find("slot 2 is named by two rows"), std::string::npos)
      << error_of(update, dir);
  update.inputs["ssm_state_indices"] = Tensor::from_vector<float>({3}, {2, -1, 1});
  EXPECT_NE(error_of(update, dir).find("ssm_state_indices"), std::string::npos) << error_of(update, dir);
}

}  // namespace
}  // namespace ssmkit
