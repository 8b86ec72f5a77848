#pragma once
// Cache properties hold wherever the storage lives. A test of this fixture runs once per
// StorageAllocator this build can offer: host memory always, and the CUDA backend's device
// memory, which skips visibly where no GPU backend can run.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "backends.hpp"
#include "ssmkit/cache/cache_storage.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit::test {

// "host", or the name of a backend whose storage_allocator() the caches use.
class OnEveryAllocator : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "host") {
      allocator_ = &host_storage();
      return;
    }
    try {
      backend_ = make_backend(GetParam());
    } catch (const BackendUnavailable& e) {
      GTEST_SKIP() << "GPU test skipped: " << e.what();
    }
    allocator_ = &backend_->storage_allocator();
  }
  StorageAllocator& allocator() { return *allocator_; }

 private:
  std::unique_ptr<Backend> backend_;
  StorageAllocator* allocator_ = nullptr;
};

inline auto every_allocator() {
  return ::testing::Values(std::string("host"), std::string("cuda"));
}

inline std::string allocator_test_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

// Passes allocations through to another allocator and adds up what they asked for: the
// bytes a cache actually allocated, to hold against its usage accounting.
class CountingStorage final : public StorageAllocator {
 public:
  explicit CountingStorage(StorageAllocator& inner) : inner_(inner) {}
  std::string location() const override { return inner_.location(); }
  bool holds_data() const override { return inner_.holds_data(); }
  std::unique_ptr<StorageBuffer> allocate(std::size_t nbytes) override {
    bytes_ += nbytes;
    return inner_.allocate(nbytes);
  }
  std::size_t bytes_allocated() const { return bytes_; }

 private:
  StorageAllocator& inner_;
  std::size_t bytes_ = 0;
};

}  // namespace ssmkit::test

// Instantiates `suite` (a fixture derived from test::OnEveryAllocator) over every allocator.
#define SSMKIT_ON_EVERY_ALLOCATOR(suite)                                                   \
  INSTANTIATE_TEST_SUITE_P(Storage, suite, ::ssmkit::test::every_allocator(),             \
                           ::ssmkit::test::allocator_test_name)
