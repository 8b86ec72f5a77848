#include "ssmkit/serving/synthetic_workload.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ssmkit {
namespace {

// Uniform in [0, 1) from the top 53 bits.
double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Box-Muller; one normal per call keeps the stream simple to reason about.
double standard_normal(std::mt19937_64& rng) {
  const double u1 = 1.0 - unit(rng);  // (0, 1]: the log stays finite
  const double u2 = unit(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace

std::int64_t LengthDistribution::sample(std::mt19937_64& rng) const {
  std::int64_t v = value;
  switch (kind) {
    case Kind::fixed: return value;
    case Kind::uniform: {
      const auto span = static_cast<double>(max - min + 1);
      v = min + std::min(static_cast<std::int64_t>(unit(rng) * span), max - min);
      break;
    }
    case Kind::lognormal: {
      // Clamped before rounding so that a far tail cannot overflow the integer.
      const double x = median * std::exp(sigma * standard_normal(rng));
      v = std::llround(std::min(x, max > 0 ? static_cast<double>(max) : 1e15));
      break;
    }
  }
  v = std::max(v, min);
  return max > 0 ? std::min(v, max) : v;
}

std::vector<RequestSpec> generate_requests(const SyntheticWorkload& workload) {
  std::mt19937_64 rng(workload.seed);
  std::vector<RequestSpec> requests;
  requests.reserve(static_cast<std::size_t>(workload.requests));
  double t = 0.0;
  for (std::int64_t i = 0; i < workload.requests; ++i) {
    if (i > 0 && std::isfinite(workload.arrival_rate)) {
      t += -std::log(1.0 - unit(rng)) / workload.arrival_rate;
    }
    RequestSpec r;
    r.arrival_s = t;
    r.prompt_tokens = workload.prompt.sample(rng);
    r.output_tokens = workload.output.sample(rng);
    requests.push_back(r);
  }
  return requests;
}

}  // namespace ssmkit
