// StorageBuffer / CacheTensor on every allocator: zero-filled at allocation, rows and
// elements round-trip byte for byte, out-of-range access is a logic_error naming the
// buffer. OmittedStorage keeps sizes but no bytes. On the CUDA allocator data() is device
// memory that read-back goes through.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>

#include "ssmkit/cache/cache_storage.hpp"
#include "ssmkit/error.hpp"
#include "storage_allocators.hpp"
#include "test_util.hpp"
#ifdef SSMKIT_HAVE_CUDA
#include <cuda_runtime.h>

#include "cuda/cuda_storage.hpp"
#endif

namespace ssmkit {
namespace {

class CacheStorageOn : public test::OnEveryAllocator {};
SSMKIT_ON_EVERY_ALLOCATOR(CacheStorageOn);

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "(no logic_error)";
}

TEST_P(CacheStorageOn, AllocationsAreZeroFilled) {
  EXPECT_TRUE(allocator().holds_data());
  for (const DType dtype : {DType::float32, DType::bfloat16, DType::float64}) {
    const CacheTensor t(allocator(), dtype, {5, 3, 7});
    EXPECT_EQ(t.nbytes(), 5u * 3 * 7 * dtype_size(dtype));
    EXPECT_EQ(t.row_numel(), 21);
    EXPECT_NE(t.data(), nullptr);
    EXPECT_TRUE(test::same_bytes(t.to_host(), Tensor(dtype, {5, 3, 7})));
  }
}

TEST_P(CacheStorageOn, RowsAndElementsRoundTripBitExact) {
  std::mt19937 rng(9);
  CacheTensor t(allocator(), DType::float32, {6, 4, 3});
  Tensor whole(DType::float32, {6, 4, 3});
  for (std::size_t i = 0; i < whole.nbytes(); ++i) whole.bytes()[i] = std::byte(rng() & 0xff);
  t.from_host(whole);
  EXPECT_TRUE(test::same_bytes(t.to_host(), whole));

  const Tensor rows = test::random_tensor({2, 4, 3}, rng).to(DType::float32);
  t.write_rows(3, rows);
  EXPECT_TRUE(test::same_bytes(t.read_rows(3, 2), rows));
  // The rows around them are untouched.
  const Tensor before = t.read_rows(2, 1), after = t.read_rows(5, 1);
  Tensor expected_before(DType::float32, {1, 4, 3}), expected_after(DType::float32, {1, 4, 3});
  std::memcpy(expected_before.bytes(), whole.bytes() + 2 * 12 * 4, 12 * 4);
  std::memcpy(expected_after.bytes(), whole.bytes() + 5 * 12 * 4, 12 * 4);
  EXPECT_TRUE(test::same_bytes(before, expected_before));
  EXPECT_TRUE(test::same_bytes(after, expected_after));

  t.zero_rows(3, 1);
  EXPECT_TRUE(test::same_bytes(t.read_rows(3, 1), Tensor(DType::float32, {1, 4, 3})));
  Tensor second_row(DType::float32, {1, 4, 3});
  std::memcpy(second_row.bytes(), rows.bytes() + 12 * 4, 12 * 4);
  EXPECT_TRUE(test::same_bytes(t.read_rows(4, 1), second_row));

  // Elements in the middle of a row (one token of a KV slot).
  Tensor host(DType::float32, {5});
  host.span<float>()[1] = 1.5f, host.span<float>()[2] = -2.0f;
  t.write_elements(13, 2, host, 1);
  Tensor back(DType::float32, {2});
  t.read_elements(13, 2, back, 0);
  EXPECT_EQ(back.span<float>()[0], 1.5f);
  EXPECT_EQ(back.span<float>()[1], -2.0f);
}

TEST_P(CacheStorageOn, OutOfRangeAccessNamesTheBuffer) {
  CacheTensor t(allocator(), DType::float64, {4, 2});
  const std::string location = allocator().location();
  const std::string read = error_text([&] { (void)t.read_rows(3, 2); });
  EXPECT_NE(read.find("elements [6, 10)"), std::string::npos) << read;
  EXPECT_NE(read.find("64-byte buffer in " + location), std::string::npos) << read;
  std::vector<std::byte> bytes(8);
  const std::string raw = error_text([&] { t.buffer().read(60, bytes); });
  EXPECT_NE(raw.find("bytes [60, 68) lie outside a 64-byte buffer in " + location),
            std::string::npos)
      << raw;
  EXPECT_NE(error_text([&] { t.buffer().zero(65, 0); }), "(no logic_error)");
  EXPECT_NE(error_text([&] { t.write_rows(0, Tensor(DType::float32, {1, 2})); }),
            "(no logic_error)");  // wrong dtype: converting is the caller's business
  EXPECT_NE(error_text([&] { t.from_host(Tensor(DType::float64, {2, 4})); }), "(no logic_error)");
}

TEST(OmittedStorage, KeepsSizesButNoBytes) {
  OmittedStorage omitted;
  EXPECT_FALSE(omitted.holds_data());
  CacheTensor a(omitted, DType::bfloat16, {3, 5});
  const CacheTensor b(omitted, DType::float32, {2});
  EXPECT_EQ(omitted.bytes_omitted(), 3u * 5 * 2 + 2 * 4);
  EXPECT_EQ(a.nbytes(), 30u);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_NE(error_text([&] { (void)b.to_host(); }).find("holds no data"), std::string::npos);
  EXPECT_NE(error_text([&] { a.zero_rows(0, 1); }).find("holds no data"), std::string::npos);
}

TEST(HostStorage, DataIsTheHostAddressTheBytesLiveAt) {
  CacheTensor t(host_storage(), DType::float32, {2, 2});
  static_cast<float*>(t.data())[3] = 4.25f;
  EXPECT_EQ(t.to_host().span<float>()[3], 4.25f);
  EXPECT_EQ(host_storage().location(), "host memory");
}

#ifdef SSMKIT_HAVE_CUDA
// data() of a CUDA-allocated cache tensor is device memory: cudaPointerGetAttributes says
// so, and bytes a device-side memset puts there are what to_host() reads back.
TEST_P(CacheStorageOn, CudaDataIsDeviceMemory) {
  if (GetParam() != "cuda") GTEST_SKIP() << "only for the CUDA allocator";
  EXPECT_EQ(allocator().location().rfind("CUDA device ", 0), 0u) << allocator().location();
  CacheTensor t(allocator(), DType::float32, {8, 16});
  ASSERT_TRUE(cuda::is_device_memory(t.data()));
  Tensor host_side(DType::float32, {8, 16});
  EXPECT_FALSE(cuda::is_device_memory(host_side.bytes()));
  ASSERT_EQ(cudaMemset(t.data(), 0x3f, t.nbytes()), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const Tensor back = t.to_host();
  for (std::size_t i = 0; i < back.nbytes(); ++i) ASSERT_EQ(back.bytes()[i], std::byte{0x3f}) << i;
  t.zero_rows(2, 1);
  const Tensor row = t.read_rows(2, 1);
  for (std::size_t i = 0; i < row.nbytes(); ++i) ASSERT_EQ(row.bytes()[i], std::byte{0}) << i;
}

// A cache larger than the device is an input error naming the device, not a CUDA crash,
// and the device stays usable afterwards.
TEST_P(CacheStorageOn, CudaAllocationBeyondTheDeviceIsAnInputError) {
  if (GetParam() != "cuda") GTEST_SKIP() << "only for the CUDA allocator";
  try {
    CacheTensor huge(allocator(), DType::float32, {std::int64_t{1} << 40});  // 4 TiB
    FAIL() << "a 4 TiB allocation succeeded";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "cache storage");
    EXPECT_EQ(e.where(), allocator().location());
  }
  CacheTensor small(allocator(), DType::float32, {4});
  EXPECT_EQ(small.to_host().nbytes(), 16u);
}
#endif

}  // namespace
}  // namespace ssmkit
