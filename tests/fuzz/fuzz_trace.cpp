// Azure trace CSV reader.
#include "fuzz_util.hpp"
#include "ssmkit/serving/azure_trace.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = ssmkit::fuzz::as_file(data, size, "trace.csv");
  ssmkit::fuzz::expect_input_error_at_most([&] { ssmkit::read_azure_trace(path); });
  return 0;
}
