#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "ssmkit/serving/request.hpp"

namespace ssmkit {

// Which part of a trace to replay.
struct TraceSelection {
  // Requests arriving in [start_s, end_s) seconds after the trace's first request.
  std::optional<double> start_s, end_s;
  std::optional<std::int64_t> limit;  // then at most this many, the earliest first
};

// Reads a request trace in the Azure LLM inference trace format: a CSV header naming the
// columns TIMESTAMP, ContextTokens and GeneratedTokens (any order; other columns ignored),
// then one request per row. TIMESTAMP is "YYYY-MM-DD HH:MM:SS[.fraction]" (the Azure
// traces) or a number of seconds. ContextTokens >= 1 is the prompt, GeneratedTokens >= 0
// the output. Rows must be in arrival order and use one TIMESTAMP format throughout (a
// shuffled or spliced trace is refused, not silently re-sorted); arrival_s counts from the
// first selected request. ContextTokens + GeneratedTokens is bounded by
// limits::kMaxTokensPerRequest. A bad row is an InputError naming the file,
// line and column.
std::vector<RequestSpec> read_azure_trace(const std::filesystem::path& path,
                                          const TraceSelection& selection = {});

}  // namespace ssmkit
