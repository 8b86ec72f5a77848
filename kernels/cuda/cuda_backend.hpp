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

  CausalConv1dResult causal_conv1d(const CausalConv1dParams& p) override;
  CausalConv1dUpdateResult causal_conv1d_update(const CausalConv1dUpdateParams& p) override;
  SelectiveScanResult selective_scan(const SelectiveScanParams& p) override;
  SelectiveStateUpdateResult selective_state_update(const SelectiveStateUpdateParams& p) override;
  ChunkScanResult mamba_chunk_scan_combined(const ChunkScanParams& p) override;
  GatedRmsNormResult gated_rmsnorm(const GatedRmsNormParams& p) override;
  LightningAttentionResult lightning_attention(const LightningAttentionParams& p) override;
  PagedKvWriteResult paged_kv_write(const PagedKvWriteParams& p) override;
  PagedKvGatherResult paged_kv_gather(const PagedKvGatherParams& p) override;
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
