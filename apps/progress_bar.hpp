#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace ssmkit::app {

// A one-line progress bar on stderr for long runs, drawn only when stderr is a terminal
// (so logs and pipes stay clean) and at most ten times a second. finish() (or the
// destructor) clears the line.
class ProgressBar {
 public:
  ProgressBar(std::string label, std::int64_t total);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(std::int64_t done, const std::string& note = "");
  void finish();

 private:
  bool enabled_;
  std::string label_;
  std::int64_t total_;
  std::chrono::steady_clock::time_point last_draw_{};
  bool drawn_ = false;
};

}  // namespace ssmkit::app
