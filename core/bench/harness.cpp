#include "ssmkit/bench/harness.hpp"

#include <chrono>
#include <new>

namespace ssmkit::bench {

TimedCall prepare_timed_call(Backend& backend, Backend& reference, const OpParams& call,
                             const HarnessOptions& options) {
  TimedCall t;
  const auto start = std::chrono::steady_clock::now();
  const bool copy = std::holds_alternative<MemoryCopyParams>(call);
  try {
    t.traffic = traffic(call);
    // A copy row's own size already passes the cache, and 1 GiB times a large copy count
    // would not fit: copies always take the default.
    const int copies = options.copies > 0 && !copy ? options.copies : default_copies(t.traffic);
    t.op = backend.prepare(call, PrepareOptions{copies, options.graph});
    if (copy) {
      t.check_note = "-";
    } else if (backend.name() == reference.name()) {
      t.check_note = "CPU reference";
    } else if (!options.check) {
      t.check_note = "not checked (--no-check)";
    } else {
      t.op->run(0);  // the first call on set 0: its outputs answer the unmodified inputs
      t.check = check_outputs(call, t.op->outputs(0), reference, options.check_flops);
    }
    for (int i = 0; i < options.warmup_passes; ++i) t.op->time_pass();
  } catch (const std::bad_alloc&) {
    t.op.reset();
    t.skip = backend.name() + ": not enough host memory for this case's inputs (std::bad_alloc)";
  } catch (const std::exception& e) {
    t.op.reset();
    t.skip = backend.name() + ": " + e.what();
  }
  t.setup_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return t;
}

std::vector<double> time_calls(PreparedOp& op, int passes) {
  std::vector<double> per_call;
  per_call.reserve(static_cast<std::size_t>(passes));
  for (int i = 0; i < passes; ++i) per_call.push_back(op.time_pass() / op.copies());
  return per_call;
}

}  // namespace ssmkit::bench
