// Golden reader (HDF5 through the guarded child, then the op's shape checks).
#include "fuzz_util.hpp"
#include "ssmkit/golden.hpp"
#include "ssmkit/op_case.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = ssmkit::fuzz::as_file(data, size, "golden.h5");
  ssmkit::fuzz::expect_input_error_at_most([&] { ssmkit::make_op_case(ssmkit::load_golden(path)); });
  return 0;
}
