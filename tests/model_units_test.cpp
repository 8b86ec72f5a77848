// Byte sizes, token counts and the GPU memory table.
#include <gtest/gtest.h>

#include <set>

#include "ssmkit/error.hpp"
#include "ssmkit/model/gpu_table.hpp"
#include "ssmkit/model/units.hpp"

namespace ssmkit {
namespace {

std::size_t bytes(std::string_view text) { return parse_byte_size(text, "test", "--gpu-mem"); }
std::int64_t tokens(std::string_view text) { return parse_token_count(text, "test", "--context"); }

TEST(ByteSize, BinaryDecimalAndPlainBytes) {
  EXPECT_EQ(bytes("80GiB"), 80ull * 1024 * 1024 * 1024);
  EXPECT_EQ(bytes("80GB"), 80'000'000'000ull);
  EXPECT_EQ(bytes("81920MiB"), 81920ull * 1024 * 1024);
  EXPECT_EQ(bytes("81920mib"), 81920ull * 1024 * 1024);
  EXPECT_EQ(bytes("1.5TiB"), 3ull * 512 * 1024 * 1024 * 1024);
  EXPECT_EQ(bytes("0.5KB"), 500u);
  EXPECT_EQ(bytes("85899345920"), 85899345920ull);
  EXPECT_EQ(bytes(" 12 B "), 12u);
  EXPECT_EQ(bytes("0"), 0u);
}

TEST(ByteSize, BadSizesAreInputErrorsNamingTheField) {
  for (const char* bad : {"", "GiB", "80 gigabytes", "80XB", "-1GiB", "1.2.3GB", "1.GB", "1e9",
                          "0.5B", "1.0000000001KiB", "100000000000000000000", "9000000TiB"}) {
    SCOPED_TRACE(bad);
    try {
      bytes(bad);
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "--gpu-mem");
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(TokenCount, PowersOfTwoSuffixes) {
  EXPECT_EQ(tokens("4096"), 4096);
  EXPECT_EQ(tokens("1k"), 1024);
  EXPECT_EQ(tokens("128K"), 131072);
  EXPECT_EQ(tokens("1M"), 1048576);
  EXPECT_EQ(tokens("1.5k"), 1536);
  for (const char* bad : {"0", "0k", "-5", "1.7", "1G", "k", "12 tokens"}) {
    EXPECT_THROW(tokens(bad), InputError) << bad;
  }
  for (const std::int64_t n : {1, 1000, 1024, 3072, 131072, 1048576, 3 * 1048576}) {
    EXPECT_EQ(tokens(format_tokens(n)), n) << format_tokens(n);
  }
  EXPECT_EQ(format_tokens(131072), "128K");
  EXPECT_EQ(format_tokens(1048576), "1M");
}

TEST(FormatBytes, HumanUnits) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(80ull << 30), "80.00 GiB");
}

TEST(GpuTable, DriverReportedTotals) {
  std::set<std::string_view> names;
  for (const GpuMemory& g : gpu_table()) {
    EXPECT_TRUE(names.insert(g.name).second) << g.name;
    EXPECT_GT(g.bytes, 0u);
    EXPECT_FALSE(g.source.empty());
  }
  EXPECT_EQ(gpu_memory("h100", "t", "--gpu").bytes, 81559ull * 1024 * 1024);
  EXPECT_EQ(gpu_memory("h200", "t", "--gpu").bytes, 143771ull * 1024 * 1024);
  EXPECT_EQ(gpu_memory("a100-80gb", "t", "--gpu").bytes, 81920ull * 1024 * 1024);
  try {
    gpu_memory("h300", "t", "--gpu");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "--gpu");
    EXPECT_NE(e.expected().find("h100"), std::string::npos);
  }
}

}  // namespace
}  // namespace ssmkit
