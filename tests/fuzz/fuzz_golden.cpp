// Golden reader (HDF5 through the guarded child, then the op's shape checks).
#include <pthread.h>

#include <csignal>

#include "fuzz_util.hpp"
#include "ssmkit/golden.hpp"
#include "ssmkit/op_case.hpp"

// Present only where a sanitizer runtime is linked (the libFuzzer build), hence weak.
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)());

namespace {

// The guard's child is there to crash, abort or run out of memory on a hostile file, and
// the parent turns that into the file's input error. The child inherits libFuzzer's death
// callback and signal handlers, which would write that input out as a finding of its own;
// it gets the defaults back, so only what reaches the parent counts.
void child_without_fuzzer_handlers() {
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
  for (const int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE}) std::signal(sig, SIG_DFL);
}

const int registered = pthread_atfork(nullptr, nullptr, child_without_fuzzer_handlers);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)registered;
  const auto path = ssmkit::fuzz::as_file(data, size, "golden.h5");
  ssmkit::fuzz::expect_input_error_at_most([&] { ssmkit::make_op_case(ssmkit::load_golden(path)); });
  return 0;
}
