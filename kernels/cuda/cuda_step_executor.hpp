#pragma once
#include <memory>
#include <string>

#include "ssmkit/serving/step_executor.hpp"

namespace ssmkit::cuda {

// A replay step's kernels on a HybridCache whose storage is on the GPU (built on
// CudaBackend::storage_allocator()). Per layer that holds a cache:
//  - Mamba2: per prefill chunk causal_conv1d (from and into the slot's conv window) and
//    mamba_chunk_scan_combined (from the slot's SSM state, which takes the final state);
//    for the decode batch causal_conv1d_update and selective_state_update on the slots.
//  - Mamba1: the same with selective_scan continuing in place from the slot's state.
//  - lightning attention: lightning_attention per prefill chunk and per decode token.
//  - attention: the paged KV writes of every new token, through the request's page table.
// Not run: projections, attention scores, norms and MLPs, which touch no cache. Inputs are
// seeded random activations that depend only on (channel, position), generated before a
// step's timing starts, so chunked and one-shot prefills, and decode, see the same values.
// Prefill chunks run one launch per request (no varlen packing with per-sequence initial
// states). Timing: CUDA events around the prefill kernels and the decode kernels, all on
// the legacy default stream, where CudaStorage also zeroes the slots of admitted requests.
class CudaStepExecutor final : public StepExecutor {
 public:
  // InputError when the cache's storage is not on the GPU or a dtype has no kernel here
  // (the SSM and linear-attention states must be float32: the prefill scans keep float32
  // states).
  explicit CudaStepExecutor(const HybridCache& cache);
  ~CudaStepExecutor() override;
  std::string description() const override;
  StepTiming run(const StepWork& step, HybridCache& cache) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ssmkit::cuda
