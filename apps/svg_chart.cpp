#include "svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace ssmkit::app {
namespace {

constexpr double kWidth = 960, kHeight = 560;
constexpr double kLeft = 100, kRight = 250, kTop = 50, kBottom = 70;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

// Legend entries are cut to fit the margin (a config.json path can be long); the polyline's
// title keeps the whole name.
std::string legend_name(const std::string& name) {
  constexpr std::size_t kMax = 30;
  if (name.size() <= kMax) return name;
  std::size_t cut = name.size() - (kMax - 3);
  while (cut < name.size() && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) ++cut;
  return "..." + name.substr(cut);
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// The whole powers of two the axis spans, and every `step`-th of them as ticks.
struct LogAxis {
  int lo = 0, hi = 1, step = 1;

  static LogAxis covering(double min_value, double max_value) {
    LogAxis a;
    a.lo = static_cast<int>(std::floor(std::log2(min_value)));
    a.hi = static_cast<int>(std::ceil(std::log2(max_value)));
    if (a.hi <= a.lo) {
      --a.lo;
      ++a.hi;
    }
    for (const int s : {1, 2, 5, 10, 20}) {
      a.step = s;
      if ((a.hi - a.lo) / s <= 10) break;
    }
    a.lo = static_cast<int>(std::floor(static_cast<double>(a.lo) / a.step)) * a.step;
    a.hi = static_cast<int>(std::ceil(static_cast<double>(a.hi) / a.step)) * a.step;
    return a;
  }
  double fraction(double value) const { return (std::log2(value) - lo) / (hi - lo); }
};

}  // namespace

std::string render_svg(const LineChart& chart) {
  double xmin = std::numeric_limits<double>::infinity(), xmax = 0;
  double ymin = std::numeric_limits<double>::infinity(), ymax = 0;
  for (const auto& s : chart.series) {
    for (const auto& [x, y] : s.points) {
      if (x <= 0 || y <= 0) continue;  // not on a log axis
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  }
  if (xmax == 0) xmin = 1, xmax = 2, ymin = 1, ymax = 2;
  const LogAxis ax = LogAxis::covering(xmin, xmax);
  const LogAxis ay = LogAxis::covering(ymin, ymax);
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + ax.fraction(x) * pw; };
  auto py = [&](double y) { return kTop + (1 - ay.fraction(y)) * ph; };

  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
    << "\" viewBox=\"0 0 " << kWidth << ' ' << kHeight
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << num(kLeft + pw / 2) << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">"
    << escape(chart.title) << "</text>\n";

  o << "<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (int e = ax.lo; e <= ax.hi; e += ax.step) {
    const double x = px(std::exp2(e));
    o << "<line x1=\"" << num(x) << "\" y1=\"" << num(kTop) << "\" x2=\"" << num(x) << "\" y2=\""
      << num(kTop + ph) << "\"/>\n";
  }
  for (int e = ay.lo; e <= ay.hi; e += ay.step) {
    const double y = py(std::exp2(e));
    o << "<line x1=\"" << num(kLeft) << "\" y1=\"" << num(y) << "\" x2=\"" << num(kLeft + pw)
      << "\" y2=\"" << num(y) << "\"/>\n";
  }
  o << "</g>\n";
  o << "<rect x=\"" << num(kLeft) << "\" y=\"" << num(kTop) << "\" width=\"" << num(pw)
    << "\" height=\"" << num(ph) << "\" fill=\"none\" stroke=\"black\"/>\n";
  for (int e = ax.lo; e <= ax.hi; e += ax.step) {
    o << "<text x=\"" << num(px(std::exp2(e))) << "\" y=\"" << num(kTop + ph + 18)
      << "\" text-anchor=\"middle\">" << escape(chart.x.format(std::exp2(e))) << "</text>\n";
  }
  for (int e = ay.lo; e <= ay.hi; e += ay.step) {
    o << "<text x=\"" << num(kLeft - 8) << "\" y=\"" << num(py(std::exp2(e)) + 4)
      << "\" text-anchor=\"end\">" << escape(chart.y.format(std::exp2(e))) << "</text>\n";
  }
  o << "<text x=\"" << num(kLeft + pw / 2) << "\" y=\"" << num(kHeight - 20)
    << "\" text-anchor=\"middle\">" << escape(chart.x.label) << "</text>\n";
  o << "<text transform=\"translate(22 " << num(kTop + ph / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << escape(chart.y.label) << "</text>\n";

  bool any_hollow = false;
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& s = chart.series[i];
    const char* color = kColors[i % std::size(kColors)];
    std::string points;
    for (const auto& [x, y] : s.points) {
      if (x <= 0 || y <= 0) continue;
      points += (points.empty() ? "" : " ") + num(px(x)) + "," + num(py(y));
    }
    o << "<g>\n<title>" << escape(s.name) << "</title>\n"
      << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\""
      << points << "\"/>\n";
    for (std::size_t k = 0; k < s.points.size(); ++k) {
      const auto [x, y] = s.points[k];
      if (x <= 0 || y <= 0) continue;
      const bool open = k < s.hollow.size() && s.hollow[k];
      any_hollow = any_hollow || open;
      o << "<circle cx=\"" << num(px(x)) << "\" cy=\"" << num(py(y)) << "\" r=\"" << (open ? "4" : "3")
        << "\" fill=\"" << (open ? "white" : color) << "\" stroke=\"" << color << "\"/>\n";
    }
    o << "</g>\n";
    const double ly = kTop + 10 + 20.0 * static_cast<double>(i);
    const double lx = kLeft + pw + 16;
    o << "<line x1=\"" << num(lx) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(lx + 24)
      << "\" y2=\"" << num(ly) << "\" stroke=\"" << color << "\" stroke-width=\"2\"/>\n"
      << "<text x=\"" << num(lx + 30) << "\" y=\"" << num(ly + 4) << "\">" << escape(legend_name(s.name))
      << "</text>\n";
  }
  if (any_hollow && !chart.hollow_note.empty()) {
    o << "<text x=\"" << num(kLeft + pw + 16) << "\" y=\"" << num(kHeight - 20) << "\" font-size=\"11\">"
      << escape(chart.hollow_note) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace ssmkit::app
