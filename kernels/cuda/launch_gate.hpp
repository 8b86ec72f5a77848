#pragma once
// A timed pass's launches queue up behind a kernel that spins until the host has enqueued all
// of them (nvbench's "blocking kernel"), so CUDA events around the pass time the GPU's work,
// not the host's launch latency. The reference timings of scripts/bench_vs_mamba_ssm.py hide
// Python's launch latency the same way, so both sides of a ratio measure the same thing.
#include <cuda_runtime.h>

#include <string>

namespace ssmkit::cuda {

class LaunchGate {
 public:
  LaunchGate();
  ~LaunchGate();
  LaunchGate(const LaunchGate&) = delete;
  LaunchGate& operator=(const LaunchGate&) = delete;

  // Whether hold() holds anything: not in debug builds (each launch waits for the device
  // there, which would wait for the gate), not under CUDA_LAUNCH_BLOCKING, and not after the
  // gate once timed out. Passes enqueued while it is off include the host's launch time.
  bool active() const { return active_; }
  // Why it is off, for the report; empty while active.
  const std::string& off_reason() const { return off_reason_; }

  void hold(cudaStream_t stream);
  // Opens the gate; the held stream must finish before the next hold().
  void release();
  // After the stream has finished: whether the gate opened by itself (the host took longer
  // than its timeout enqueuing, or a launch waited for the device), which turns it off for
  // good; the pass it held then measured that wait too.
  bool timed_out();

 private:
  int* host_flags_ = nullptr;    // [0]: released, [1]: timed out; pinned and mapped
  int* device_flags_ = nullptr;
  bool active_ = true;
  bool held_ = false;
  std::string off_reason_;
};

}  // namespace ssmkit::cuda
