#include "ssmkit/bench/measurement.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ssmkit::bench {

double quantile(std::vector<double> samples, double q) {
  if (samples.empty()) return NAN;
  std::sort(samples.begin(), samples.end());
  const double pos = q * static_cast<double>(samples.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, samples.size() - 1);
  return samples[lo] + (samples[hi] - samples[lo]) * (pos - static_cast<double>(lo));
}

namespace {

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f%%", 100.0 * fraction);
  return buf;
}

}  // namespace

std::vector<std::string> measurement_warnings(const std::vector<double>& seconds_per_call,
                                              double bytes,
                                              std::optional<double> copy_bandwidth,
                                              const MeasurementLimits& limits) {
  std::vector<std::string> out;
  if (seconds_per_call.empty()) return out;
  const auto passes = static_cast<int>(seconds_per_call.size());
  if (passes < limits.min_passes) {
    out.push_back(std::to_string(passes) +
                  " timed passes: a median of so few is not stable (raise --benchmark_min_time)");
  }
  const double median = quantile(seconds_per_call, 0.5);
  const double spread =
      (quantile(seconds_per_call, 0.9) - quantile(seconds_per_call, 0.1)) / median;
  if (spread > limits.max_spread) {
    out.push_back("noisy: the 10th..90th percentile spread is " + percent(spread) +
                  " of the median (clock changes or other work on the device)");
  }
  if (copy_bandwidth && bytes > 0.0) {
    const double fraction = bytes / median / *copy_bandwidth;
    if (fraction > limits.max_copy_fraction) {
      out.push_back("its bytes floor moves at " + percent(fraction) +
                    " of the copy bandwidth: the inputs stay in a cache or the byte formula "
                    "counts more than the op moves");
    }
  }
  return out;
}

}  // namespace ssmkit::bench
