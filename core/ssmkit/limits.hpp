#pragma once
// Every bound ssmkit puts on work that input drives, in one place. Each is far above what a
// real model, golden, trace or scenario needs (the shipped ones stay orders of magnitude
// below), and low enough that a hostile file is refused in seconds and under 1 GB instead of
// crashing, hanging or wrapping around. The message of an error that hits one names it.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "ssmkit/error.hpp"

namespace ssmkit::limits {

// Text inputs (config.json, scenario and sweep YAML, trace CSV, bench/sweep JSON).
inline constexpr std::uint64_t kMaxTextFileBytes = std::uint64_t{256} << 20;  // 256 MiB
// Nesting of JSON arrays/objects and YAML mappings/lists.
inline constexpr int kMaxNestingDepth = 64;
// One config value quoted in an error message (characters).
inline constexpr std::size_t kMaxQuotedChars = 80;
// State slots (cache.max_sequences) and requests of a synthetic workload.
inline constexpr std::int64_t kMaxSequences = std::int64_t{1} << 20;
inline constexpr std::int64_t kMaxRequests = std::int64_t{1} << 24;
// A sweep: points in all (each is parsed up front, ~0.1 ms), and YAML nodes in one axis
// value (alias expansions counted).
inline constexpr std::int64_t kMaxPoints = 100'000;
inline constexpr std::int64_t kMaxValueNodes = 10'000;
// Layers of a model (hybrid_override_pattern, layer lists, num_hidden_layers).
inline constexpr std::int64_t kMaxLayers = std::int64_t{1} << 16;
// Tokens of one request (prompt plus generated) in a trace or workload.
inline constexpr std::int64_t kMaxTokensPerRequest = std::int64_t{1} << 24;  // 16.7 M
// Decode steps one replay may simulate, all requests together.
inline constexpr std::int64_t kMaxSimulatedSteps = std::int64_t{1} << 26;  // 67 M
// One golden case: elements over all its datasets, and bytes they take in memory (float64).
inline constexpr std::int64_t kMaxGoldenElementsPerCase = std::int64_t{1} << 26;  // 67 M, 512 MiB as float64
// A golden file is read first in a child process with this much address space on top of
// the parent's, and this much wall time.
inline constexpr std::uint64_t kGoldenReadAddressSpaceBytes = std::uint64_t{2} << 30;  // 2 GiB
inline constexpr unsigned kGoldenReadSeconds = 10;

// a * b, or an InputError naming `field` of `where` when the product leaves 64 bits.
template <class T>
T checked_mul(T a, T b, const std::string& where, const std::string& field) {
  T out{};
  if (__builtin_mul_overflow(a, b, &out)) {
    throw InputError(where, field,
                     "sizes whose product fits 64 bits; " + std::to_string(a) + " * " +
                         std::to_string(b) + " overflows");
  }
  return out;
}

template <class T>
T checked_add(T a, T b, const std::string& where, const std::string& field) {
  T out{};
  if (__builtin_add_overflow(a, b, &out)) {
    throw InputError(where, field,
                     "sizes whose sum fits 64 bits; " + std::to_string(a) + " + " +
                         std::to_string(b) + " overflows");
  }
  return out;
}

}  // namespace ssmkit::limits
