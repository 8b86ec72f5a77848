#include "progress_bar.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace ssmkit::app {

ProgressBar::ProgressBar(std::string label, std::int64_t total)
    : enabled_(isatty(STDERR_FILENO) == 1), label_(std::move(label)), total_(std::max<std::int64_t>(total, 1)) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(std::int64_t done, const std::string& note) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
  last_draw_ = now;
  drawn_ = true;
  constexpr int kWidth = 30;
  const double fraction = std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0);
  const int filled = static_cast<int>(fraction * kWidth);
  std::fprintf(stderr, "\r\033[K%s [%.*s%*s] %3d%% %lld/%lld %s", label_.c_str(), filled,
               "##############################", kWidth - filled, "",
               static_cast<int>(fraction * 100.0), static_cast<long long>(done),
               static_cast<long long>(total_), note.c_str());
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace ssmkit::app
