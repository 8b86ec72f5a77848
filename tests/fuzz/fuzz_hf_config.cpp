// config.json reader: any bytes give a ModelSpec or an InputError.
#include "fuzz_util.hpp"
#include "ssmkit/model/model_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ssmkit::fuzz::expect_input_error_at_most(
      [&] { ssmkit::parse_hf_config(ssmkit::fuzz::text_of(data, size), "fuzz/config.json"); });
  return 0;
}
