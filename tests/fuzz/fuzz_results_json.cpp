// The JSON results ssmkit reads back: `bench --json` files (bench-compare) and `sweep --json`
// shards (sweep merge), both on every input.
#include "../../apps/sweep_results.hpp"
#include "fuzz_util.hpp"
#include "ssmkit/bench/run_comparison.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ssmkit;
  const auto path = fuzz::as_file(data, size, "results.json");
  fuzz::expect_input_error_at_most([&] { app::merge_sweep_results({path}); });
  fuzz::expect_input_error_at_most([&] { bench::load_bench_run(path.string()); });
  return 0;
}
