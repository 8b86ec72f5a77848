#pragma once
#include "ssmkit/backend.hpp"

namespace ssmkit {

// The reference: plain loops over float64, whatever `input_dtype` says. Every other
// backend is validated against goldens made independently of this code, and compared to
// it on random inputs where no golden exists.
class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::string device_description() const override { return "CPU float64 reference"; }

  CausalConv1dResult causal_conv1d(const CausalConv1dParams& p) override;
  CausalConv1dUpdateResult causal_conv1d_update(const CausalConv1dUpdateParams& p) override;
  SelectiveScanResult selective_scan(const SelectiveScanParams& p) override;
  SelectiveStateUpdateResult selective_state_update(const SelectiveStateUpdateParams& p) override;
  ChunkScanResult mamba_chunk_scan_combined(const ChunkScanParams& p) override;
  GatedRmsNormResult gated_rmsnorm(const GatedRmsNormParams& p) override;
  LightningAttentionResult lightning_attention(const LightningAttentionParams& p) override;
  PagedKvWriteResult paged_kv_write(const PagedKvWriteParams& p) override;
  PagedKvGatherResult paged_kv_gather(const PagedKvGatherParams& p) override;
};

}  // namespace ssmkit
