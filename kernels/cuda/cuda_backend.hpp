#pragma once
#include <memory>

#include "cuda_storage.hpp"
#include "ssmkit/backend.hpp"

namespace ssmkit {

// Hopper (sm_90) kernels. Activations (x, dt, B, C, z, u, delta, q, k, v) run in the
// golden's input dtype (float64 inputs as float32), parameters (A, D, biases, weights,
// slopes) and recurrent states in float32 (selective_state_update: float32 or bfloat16, as
// the params' state_dtype says), arithmetic in float32. Outputs come back in the activation
// dtype, states in their own.
class CudaBackend final : public Backend {
 public:
  CudaBackend();  // picks the current device; throws BackendUnavailable without one
  std::string name() const override { return "cuda"; }
  std::string device_description() const override { return description_; }

  // Any op: bound (uploaded), launched on the default stream, read back.
  OpResult run(const OpParams& op) override;
  std::unique_ptr<PreparedOp> prepare(const OpParams& op, const PrepareOptions& options) override;
  // The device's memory: caches built on it keep their states and pages on the GPU.
  StorageAllocator& storage_allocator() override { return *storage_; }
  // A cuda::CudaStepExecutor: the replay's kernels on the cache's GPU storage.
  std::unique_ptr<StepExecutor> step_executor(HybridCache& cache, const ModelSpec& model) override;

 private:
  std::string description_;
  std::unique_ptr<cuda::CudaStorage> storage_;
};

}  // namespace ssmkit
