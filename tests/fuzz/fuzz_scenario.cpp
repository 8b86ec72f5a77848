// Scenario and sweep YAML readers, both on every input (the shipped files seed either).
#include "fuzz_util.hpp"
#include "ssmkit/scenario/scenario.hpp"
#include "ssmkit/scenario/sweep.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ssmkit;
  fuzz::expect_input_error_at_most([&] {
    parse_scenario(fuzz::text_of(data, size), "fuzz/scenario.yaml", std::filesystem::temp_directory_path());
  });
  const auto path = fuzz::as_file(data, size, "sweep.yaml");
  fuzz::expect_input_error_at_most([&] { load_sweep(path); });
  return 0;
}
