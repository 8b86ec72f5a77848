#include "ssmkit/serving/step_executor.hpp"

#include "ssmkit/backend.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {
namespace {

std::int64_t sum_tokens(const std::vector<ScheduledTokens>& requests, int which) {
  std::int64_t n = 0;
  for (const ScheduledTokens& r : requests) {
    if (which < 0 || r.prefill == (which == 1)) n += r.tokens;
  }
  return n;
}

}  // namespace

std::int64_t StepWork::tokens() const { return sum_tokens(requests, -1); }
std::int64_t StepWork::prefill_tokens() const { return sum_tokens(requests, 1); }
std::int64_t StepWork::decode_tokens() const { return sum_tokens(requests, 0); }

std::unique_ptr<StepExecutor> Backend::step_executor(HybridCache& cache, const ModelSpec& model) {
  (void)cache;
  (void)model;
  throw InputError("backend " + name(), "replay",
                   "a backend that runs a replay's kernels; this one cannot (its replay is "
                   "accounting only)");
}

}  // namespace ssmkit
