// CudaBackend's ops: upload (binding), launch on the default stream, read back.
#include "cuda_backend.hpp"
#include "op_bindings.hpp"

namespace ssmkit {
namespace {

template <class Binding, class Params>
auto run_binding(const Params& p) {
  const Binding binding(p);
  binding.launch(nullptr);
  return binding.result();  // the device-to-host copy waits for the kernel
}

}  // namespace

CausalConv1dResult CudaBackend::causal_conv1d(const CausalConv1dParams& p) {
  return run_binding<cuda::CausalConv1dBinding>(p);
}
CausalConv1dUpdateResult CudaBackend::causal_conv1d_update(const CausalConv1dUpdateParams& p) {
  return run_binding<cuda::CausalConv1dUpdateBinding>(p);
}
SelectiveScanResult CudaBackend::selective_scan(const SelectiveScanParams& p) {
  return run_binding<cuda::SelectiveScanBinding>(p);
}
SelectiveStateUpdateResult CudaBackend::selective_state_update(
    const SelectiveStateUpdateParams& p) {
  return run_binding<cuda::SelectiveStateUpdateBinding>(p);
}
GatedRmsNormResult CudaBackend::gated_rmsnorm(const GatedRmsNormParams& p) {
  return run_binding<cuda::GatedRmsNormBinding>(p);
}
ChunkScanResult CudaBackend::mamba_chunk_scan_combined(const ChunkScanParams& p) {
  return run_binding<cuda::ChunkScanBinding>(p);
}
LightningAttentionResult CudaBackend::lightning_attention(const LightningAttentionParams& p) {
  return run_binding<cuda::LightningAttentionBinding>(p);
}

}  // namespace ssmkit
