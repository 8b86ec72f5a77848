#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ssmkit::app {

// A line chart on log2-scaled axes, written as a standalone SVG document: one polyline per
// series (with a marker at each point), a legend, axis labels and tick labels.
struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), both > 0
  std::vector<bool> hollow{};  // per point, when given: drawn as an open circle (a marked point)
};

struct ChartAxis {
  std::string label;
  std::function<std::string(double)> format;  // tick label of a value
};

struct LineChart {
  std::string title;
  ChartAxis x, y;
  std::vector<ChartSeries> series;
  std::string hollow_note;  // what open circles mean, printed under the chart when any is drawn
};

std::string render_svg(const LineChart& chart);

}  // namespace ssmkit::app
