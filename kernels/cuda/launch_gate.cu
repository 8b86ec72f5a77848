#include <cstdlib>
#include <cstring>

#include "cuda_check.hpp"
#include "launch_gate.hpp"

namespace ssmkit::cuda {
namespace {

// A second is far more than any pass's launches take to enqueue; a gate that waits that long
// is waited on by the host itself (a launch queue full, a synchronising call).
constexpr unsigned long long kTimeoutNs = 1000000000ull;

__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void hold_until_released(volatile int* flags) {
  const unsigned long long start = global_ns();
  while (flags[0] == 0) {
    if (global_ns() - start > kTimeoutNs) {
      flags[1] = 1;
      return;
    }
    __nanosleep(1000);
  }
}

}  // namespace

LaunchGate::LaunchGate() {
#ifndef NDEBUG
  off_reason_ = "a debug build, where every launch waits for the device";
#else
  const char* blocking = std::getenv("CUDA_LAUNCH_BLOCKING");
  if (blocking && std::strcmp(blocking, "0") != 0) off_reason_ = "CUDA_LAUNCH_BLOCKING is set";
#endif
  active_ = off_reason_.empty();
  if (!active_) return;
  void* host = nullptr;
  SSMKIT_CUDA_CHECK(cudaHostAlloc(&host, 2 * sizeof(int), cudaHostAllocMapped));
  host_flags_ = static_cast<int*>(host);
  host_flags_[0] = host_flags_[1] = 0;
  void* device = nullptr;
  SSMKIT_CUDA_CHECK(cudaHostGetDevicePointer(&device, host, 0));
  device_flags_ = static_cast<int*>(device);
}

LaunchGate::~LaunchGate() {
  if (held_) release();
  if (host_flags_) cudaFreeHost(host_flags_);
}

void LaunchGate::hold(cudaStream_t stream) {
  if (!active_) return;
  auto* flags = static_cast<volatile int*>(host_flags_);
  flags[0] = 0;
  flags[1] = 0;
  hold_until_released<<<1, 1, 0, stream>>>(device_flags_);
  SSMKIT_CHECK_LAUNCH("launch gate");
  held_ = true;
}

void LaunchGate::release() {
  if (!held_) return;
  __atomic_store_n(&host_flags_[0], 1, __ATOMIC_SEQ_CST);
  held_ = false;
}

bool LaunchGate::timed_out() {
  if (!active_ || __atomic_load_n(&host_flags_[1], __ATOMIC_SEQ_CST) == 0) return false;
  active_ = false;
  off_reason_ = "the gate timed out: the host waited for the device while enqueuing";
  return true;
}

}  // namespace ssmkit::cuda
