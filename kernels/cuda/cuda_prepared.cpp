// CudaBackend::prepare: input sets resident on the device, timed with CUDA events on a
// stream of their own, optionally replayed as one CUDA graph per pass; each pass is enqueued
// behind a launch gate so that the events time the device, not the host's launches.
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_backend.hpp"
#include "launch_gate.hpp"
#include "op_bindings.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {
namespace {

class CudaPreparedOp final : public PreparedOp {
 public:
  CudaPreparedOp(const OpParams& op, const PrepareOptions& options) {
    const int copies = options.copies < 1 ? 1 : options.copies;
    sets_.reserve(static_cast<std::size_t>(copies));
    sets_.push_back(cuda::bind(op));
    for (int i = 1; i < copies; ++i) sets_.push_back(sets_.front()->clone());  // device-side copies
    SSMKIT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    SSMKIT_CUDA_CHECK(cudaEventCreate(&start_));
    SSMKIT_CUDA_CHECK(cudaEventCreate(&stop_));
    // Uploads, clones and the NaN poison of the outputs went through the legacy default
    // stream, which does not order against a non-blocking one: finish them before any
    // launch, or a late memset overwrites what the first kernel wrote.
    SSMKIT_CUDA_CHECK(cudaDeviceSynchronize());
    if (options.graph) capture();
  }
  ~CudaPreparedOp() override {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
    cudaStreamDestroy(stream_);
  }
  CudaPreparedOp(const CudaPreparedOp&) = delete;
  CudaPreparedOp& operator=(const CudaPreparedOp&) = delete;

  int copies() const override { return static_cast<int>(sets_.size()); }
  void run(int copy) override {
    sets_.at(static_cast<std::size_t>(copy))->launch(stream_);
    SSMKIT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  double time_pass() override {
    if (!loaded_) {
      // A kernel's first launch may load its module (CUDA's lazy loading), which waits for
      // the device to go idle, and so for a held gate: the first pass runs ungated.
      launch_pass();
      SSMKIT_CUDA_CHECK(cudaStreamSynchronize(stream_));
      loaded_ = true;
    }
    const bool gated = gateable();
    if (gated) gate_.hold(stream_);
    try {
      SSMKIT_CUDA_CHECK(cudaEventRecord(start_, stream_));
      launch_pass();
      SSMKIT_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    } catch (...) {
      gate_.release();
      throw;
    }
    gate_.release();
    SSMKIT_CUDA_CHECK(cudaEventSynchronize(stop_));
    if (gated && gate_.timed_out()) return time_pass();  // that pass timed the wait too
    float ms = 0.f;
    SSMKIT_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms * 1e-3;
  }
  NamedTensors outputs(int copy) override {
    SSMKIT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return named_outputs(sets_.at(static_cast<std::size_t>(copy))->result());
  }
  std::string timer() const override {
    std::string t = exec_ ? "cuda graph replay" : "cuda events";
    if (!gate_.active()) {
      t += " (host launch time included: " + gate_.off_reason() + ")";
    } else if (!gateable()) {
      t += " (host launch time included: more than " + std::to_string(kMaxGatedLaunches) +
           " launches per pass)";
    }
    return t;
  }

 private:
  // More launches than this might fill the launch queue behind the gate, and the host would
  // wait for a device that waits for the host.
  static constexpr std::size_t kMaxGatedLaunches = 256;
  void launch_pass() {
    if (exec_) {
      SSMKIT_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
    } else {
      for (const auto& set : sets_) set->launch(stream_);
    }
  }
  bool gateable() const { return gate_.active() && (exec_ || sets_.size() <= kMaxGatedLaunches); }

  // One pass over every input set, captured once; each replay is one launch from the host.
  void capture() {
    SSMKIT_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    cuda::graph_capture_active() = true;
    try {
      for (const auto& set : sets_) set->launch(stream_);
    } catch (...) {
      cuda::graph_capture_active() = false;
      cudaGraph_t broken = nullptr;
      cudaStreamEndCapture(stream_, &broken);
      if (broken) cudaGraphDestroy(broken);
      throw;
    }
    cuda::graph_capture_active() = false;
    SSMKIT_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph_));
    SSMKIT_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
  }

  std::vector<std::unique_ptr<cuda::BoundOp>> sets_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  cuda::LaunchGate gate_;
  bool loaded_ = false;
};

}  // namespace

std::unique_ptr<PreparedOp> CudaBackend::prepare(const OpParams& op,
                                                 const PrepareOptions& options) {
  return std::make_unique<CudaPreparedOp>(op, options);
}

}  // namespace ssmkit
