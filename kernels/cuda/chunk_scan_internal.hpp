#pragma once
// The implementations behind launch_chunk_scan (chunk_scan.cu picks one).
#include "chunk_scan_device.hpp"
#ifdef __CUDACC__
#include "element.cuh"
#endif

namespace ssmkit::cuda {

// Exact float32 token recurrence, any shape with dstate <= 256: the path for float32
// activations (tensor-core products would miss the float32 tolerance) and the fallback for
// shapes the chunked kernel does not tile.
void launch_chunk_scan_recurrent(const ChunkScanDeviceArgs& a, cudaStream_t stream);

// Chunked SSD kernel with bf16/fp16 tensor-core products and the running state on chip.
bool chunk_scan_ssd_supports(const ChunkScanDeviceArgs& a);
std::size_t chunk_scan_ssd_workspace_bytes(const ChunkScanDeviceArgs& a);
void launch_chunk_scan_ssd(const ChunkScanDeviceArgs& a, cudaStream_t stream);

// The same scan with warpgroup products (sm_90a) for its common case: no sequence ids,
// dstate 128, headdim a multiple of 64, a device of compute capability 9.0. Built only when
// the build targets Hopper (SSMKIT_HAVE_SM90A).
bool chunk_scan_wgmma_supports(const ChunkScanDeviceArgs& a);
void launch_chunk_scan_wgmma(const ChunkScanDeviceArgs& a, cudaStream_t stream);

#ifdef __CUDACC__
// dt as the chunked kernels use it: plus the head's bias, softplus when asked, clamped.
__device__ __forceinline__ float chunk_scan_dt(float v, float bias, const ChunkScanDeviceArgs& a) {
  v += bias;
  if (a.dt_softplus) v = softplus(v);
  return fminf(fmaxf(v, a.dt_min), a.dt_max);
}
#endif

}  // namespace ssmkit::cuda
