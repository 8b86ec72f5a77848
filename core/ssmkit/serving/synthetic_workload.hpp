#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "ssmkit/serving/request.hpp"

namespace ssmkit {

// A distribution of token counts. Samples are integers in [min, max] (max 0: unbounded).
//   fixed:     always `value`
//   uniform:   every integer in [min, max] equally likely
//   lognormal: round(median * exp(sigma * Z)), Z standard normal, clamped to [min, max];
//              heavy-tailed like real prompt and output lengths
struct LengthDistribution {
  enum class Kind { fixed, uniform, lognormal };
  Kind kind = Kind::fixed;
  std::int64_t value = 1;
  std::int64_t min = 1, max = 0;
  double median = 0.0, sigma = 0.0;

  std::int64_t sample(std::mt19937_64& rng) const;
};

// Requests arriving as a Poisson process (exponential gaps of mean 1/arrival_rate seconds;
// an infinite rate puts every arrival at 0), with independent prompt and output lengths.
// The sampling uses only the generator's raw 64-bit output, not std's distributions (whose
// algorithms differ between standard libraries), so a seed gives the same requests
// everywhere.
struct SyntheticWorkload {
  std::uint64_t seed = 0;
  std::int64_t requests = 0;
  double arrival_rate = 1.0;  // requests per second
  LengthDistribution prompt, output;
};

std::vector<RequestSpec> generate_requests(const SyntheticWorkload& workload);

}  // namespace ssmkit
