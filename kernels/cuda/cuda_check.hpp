#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace ssmkit::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* what, const char* file,
                                          int line) {
  throw std::runtime_error(std::string("CUDA error in ") + what + " (" + file + ":" +
                           std::to_string(line) + "): " + cudaGetErrorName(err) + ": " +
                           cudaGetErrorString(err));
}

}  // namespace ssmkit::cuda

// Every CUDA runtime call goes through this: a failure becomes an exception naming the call.
#define SSMKIT_CUDA_CHECK(call)                                                         \
  do {                                                                                  \
    cudaError_t ssmkit_err_ = (call);                                                   \
    if (ssmkit_err_ != cudaSuccess) {                                                   \
      ::ssmkit::cuda::throw_cuda_error(ssmkit_err_, #call, __FILE__, __LINE__);         \
    }                                                                                   \
  } while (0)

namespace ssmkit::cuda {
// True on this thread while launches are being captured into a CUDA graph, where waiting
// for the device is not allowed (the graph is checked when it is replayed instead).
inline bool& graph_capture_active() {
  thread_local bool active = false;
  return active;
}
}  // namespace ssmkit::cuda

// After every launch: configuration errors always; in debug builds also wait for the
// kernel so that a fault is reported against the op that caused it.
#ifdef NDEBUG
#define SSMKIT_CHECK_LAUNCH(op_name) SSMKIT_CUDA_CHECK(cudaGetLastError())
#else
#define SSMKIT_CHECK_LAUNCH(op_name)                                                   \
  do {                                                                                 \
    SSMKIT_CUDA_CHECK(cudaGetLastError());                                             \
    if (!::ssmkit::cuda::graph_capture_active()) SSMKIT_CUDA_CHECK(cudaDeviceSynchronize()); \
  } while (0)
#endif
