#pragma once
// What a row's timing samples say beyond their median: quantiles, and the reasons to trust
// the median less (nvbench's "Warn" lines), so a report never shows a shaky number plainly.
#include <optional>
#include <string>
#include <vector>

namespace ssmkit::bench {

// Linear interpolation between the sorted samples; NaN for none.
double quantile(std::vector<double> samples, double q);

struct MeasurementLimits {
  int min_passes = 5;                // fewer timed passes: the median is not stable
  double max_spread = 0.10;          // (p90 - p10) / median above this: noisy
  double max_copy_fraction = 1.05;   // bytes floor / median above the copy bandwidth by this
};

// One sentence per reason, empty when the row looks sound. `copy_bandwidth` (bytes read +
// written per second, measured in the same run) is absent where no copy ran.
std::vector<std::string> measurement_warnings(const std::vector<double>& seconds_per_call,
                                              double bytes,
                                              std::optional<double> copy_bandwidth,
                                              const MeasurementLimits& limits = {});

}  // namespace ssmkit::bench
