#pragma once
#include <cstdint>

namespace ssmkit {

// One request of a workload, as a trace or a generator gives it. A request is identified by
// its index in the workload (RequestId).
struct RequestSpec {
  double arrival_s = 0.0;           // seconds after the workload's first request
  std::int64_t prompt_tokens = 0;   // >= 1
  std::int64_t output_tokens = 0;   // tokens to generate, >= 0
  std::int64_t source_line = 0;     // the trace line it came from; 0 for generated requests
};

}  // namespace ssmkit
