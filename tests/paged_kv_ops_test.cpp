// paged_kv_write / paged_kv_gather on the CPU reference: values worked out by hand, and
// every index a kernel would follow checked before anything is written.
#include <gtest/gtest.h>

#include <functional>

#include "cpu/cpu_backend.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/op_case.hpp"
#include "test_util.hpp"

namespace ssmkit {
namespace {

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no InputError>";
}

// A pool of 3 pages of 2 tokens, one head of `dim`; element i of the key cache holds
// 100 + i, of the value cache -(100 + i).
Tensor numbered_cache(std::int64_t dim, double sign) {
  Tensor t(DType::float64, {3, 2, 1, dim});
  auto v = t.span<double>();
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = sign * (100.0 + static_cast<double>(i));
  return t;
}

PagedKvWriteParams small_write() {
  PagedKvWriteParams p;
  p.num_tokens = 3, p.num_pages = 3, p.page_size = 2, p.kv_heads = 1, p.head_dim = 2;
  p.key = Tensor::from_vector<double>({3, 1, 2}, {1, 2, 3, 4, 5, 6});
  p.value = Tensor::from_vector<double>({3, 1, 2}, {-1, -2, -3, -4, -5, -6});
  p.key_cache = numbered_cache(2, 1.0);
  p.value_cache = numbered_cache(2, -1.0);
  p.slot_mapping = {5, -1, 0};  // token 0 -> page 2 row 1, token 1 padding, token 2 -> page 0 row 0
  return p;
}

TEST(PagedKvWrite, HandValues) {
  CpuBackend cpu;
  const auto r = cpu.call(small_write());
  const std::vector<double> key = {5, 6, 102, 103, 104, 105, 106, 107, 108, 109, 1, 2};
  const std::vector<double> value = {-5, -6, -102, -103, -104, -105, -106, -107, -108, -109, -1, -2};
  EXPECT_TRUE(test::same_bytes(r.key_cache, Tensor::from_vector<double>({3, 2, 1, 2}, key)));
  EXPECT_TRUE(test::same_bytes(r.value_cache, Tensor::from_vector<double>({3, 2, 1, 2}, value)));
}

TEST(PagedKvWrite, BadSlotsAreInputErrors) {
  CpuBackend cpu;
  auto p = small_write();
  p.slot_mapping = {5, 6, 0};
  EXPECT_EQ(error_text([&] { cpu.call(p); }),
            "paged_kv_write: slot_mapping[1]: a slot in [0, num_pages * page_size = 6) or "
            "negative for padding, got 6");
  p.slot_mapping = {3, -1, 3};
  EXPECT_EQ(error_text([&] { cpu.call(p); }),
            "paged_kv_write: slot_mapping: distinct slots; slot 3 is written twice");
  p.slot_mapping = {1, 2};
  EXPECT_EQ(error_text([&] { cpu.call(p); }),
            "paged_kv_write: slot_mapping: one slot per token (3), got 2");
  p = small_write();
  p.key_cache = Tensor(DType::float64, {3, 2, 1, 3});
  EXPECT_EQ(error_text([&] { cpu.call(p); }),
            "paged_kv_write: key_cache: expected shape (3, 2, 1, 2), got (3, 2, 1, 3)");
}

PagedKvGatherParams small_gather() {
  PagedKvGatherParams p;
  p.batch = 2, p.num_pages = 3, p.page_size = 2, p.kv_heads = 1, p.head_dim = 1;
  p.max_pages_per_seq = 2, p.max_len = 4;
  p.key_cache = Tensor::from_vector<double>({3, 2, 1, 1}, {1, 2, 3, 4, 5, 6});
  p.value_cache = Tensor::from_vector<double>({3, 2, 1, 1}, {-1, -2, -3, -4, -5, -6});
  p.block_tables = {2, 0, 1, -1};  // sequence 1's second entry is padding, never read
  p.seq_lens = {3, 1};
  return p;
}

TEST(PagedKvGather, HandValues) {
  CpuBackend cpu;
  const auto r = cpu.call(small_gather());
  // Sequence 0: page 2 rows 0-1, page 0 row 0, then zero; sequence 1: page 1 row 0.
  EXPECT_TRUE(test::same_bytes(
      r.key, Tensor::from_vector<double>({2, 4, 1, 1}, {5, 6, 1, 0, 3, 0, 0, 0})));
  EXPECT_TRUE(test::same_bytes(
      r.value, Tensor::from_vector<double>({2, 4, 1, 1}, {-5, -6, -1, 0, -3, 0, 0, 0})));
}

TEST(PagedKvGather, BadTablesAndLengthsAreInputErrors) {
  CpuBackend cpu;
  auto p = small_gather();
  p.block_tables = {2, 3, 1, -1};
  EXPECT_EQ(error_text([&] { cpu.call(p); }),
            "paged_kv_gather: block_tables[0, 1]: a page in [0, 3) for the 3 tokens of "
            "sequence 0, got 3");
  p = small_gather();
  p.seq_lens = {3, 2};
  p.block_tables = {2, 0, -1, 1};
  EXPECT_EQ(error_text([&] { cpu.call(p); }),
            "paged_kv_gather: block_tables[1, 0]: a page in [0, 3) for the 2 tokens of "
            "sequence 1, got -1");
  p = small_gather();
  p.seq_lens = {5, 1};
  EXPECT_EQ(error_text([&] { cpu.call(p); }),
            "paged_kv_gather: seq_lens[0]: a length in [0, min(max_len = 4, "
            "max_pages_per_seq * page_size = 4)], got 5");
  // Output positions past the block tables' reach could never be filled.
  p = small_gather();
  p.max_len = 1000000000;
  EXPECT_EQ(error_text([&] { cpu.call(p); }),
            "paged_kv_gather: max_len: a length in [0, max_pages_per_seq * page_size = 4], got "
            "1000000000");
  p = small_gather();
  p.max_len = 2;
  EXPECT_NE(error_text([&] { cpu.call(p); }).find("seq_lens[0]"), std::string::npos);
  p = small_gather();
  p.seq_lens = {3};
  EXPECT_EQ(error_text([&] { cpu.call(p); }),
            "paged_kv_gather: seq_lens: one length per sequence (2), got 1");
}

TEST(PagedKvGolden, BadSlotNamesTheFileAndIndex) {
  test::TempDir dir;
  const auto p = small_write();
  test::GoldenSpec spec;
  spec.op = "paged_kv_write";
  spec.inputs = {{"key", p.key.to(DType::float32)},
                 {"value", p.value.to(DType::float32)},
                 {"key_cache", p.key_cache.to(DType::float32)},
                 {"value_cache", p.value_cache.to(DType::float32)},
                 {"slot_mapping", Tensor::from_vector<std::int32_t>({3}, {5, 9, 0})}};
  spec.outputs = {{"key_cache", p.key_cache}, {"value_cache", p.value_cache}};
  test::write_golden(dir / "bad.h5", spec);
  EXPECT_EQ(error_text([&] { make_op_case(load_golden(dir / "bad.h5")); }),
            (dir / "bad.h5").string() +
                ": inputs/slot_mapping[1]: a slot in [0, num_pages * page_size = 6) or negative for "
                "padding, got 9");
  spec.inputs["slot_mapping"] = Tensor::from_vector<float>({3}, {5, 1, 0});
  test::write_golden(dir / "float_slots.h5", spec);
  EXPECT_NE(error_text([&] { make_op_case(load_golden(dir / "float_slots.h5")); })
                .find("inputs/slot_mapping: expected an integer dataset"),
            std::string::npos);
}

}  // namespace
}  // namespace ssmkit
