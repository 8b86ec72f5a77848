#pragma once
// Device-side entry point of mamba_chunk_scan_combined (Mamba2 prefill, SSD), for callers
// that keep their tensors on the GPU (CudaBackend, `ssmkit bench`). Semantics are those of
// core/ssmkit/ops/chunk_scan.hpp; every tensor is contiguous in the layout given there.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <limits>

#include "ssmkit/dtype.hpp"

namespace ssmkit::cuda {

struct ChunkScanDeviceArgs {
  // Activation dtype of x, dt, B, C, z and out: float32, bfloat16 or float16. bfloat16 and
  // float16 run the chunked tensor-core kernel; float32 runs an exact float32 recurrence.
  DType dtype = DType::bfloat16;
  int batch = 0, nheads = 0, headdim = 0, ngroups = 1, dstate = 0;
  long long seqlen = 0;
  bool dt_softplus = false;
  float dt_min = 0.f, dt_max = std::numeric_limits<float>::infinity();

  const void* x = nullptr;        // (batch, seqlen, nheads, headdim), dtype
  const void* dt = nullptr;       // (batch, seqlen, nheads), dtype
  const float* A = nullptr;       // (nheads)
  const void* B = nullptr;        // (batch, seqlen, ngroups, dstate), dtype
  const void* C = nullptr;        // (batch, seqlen, ngroups, dstate), dtype
  const float* D = nullptr;       // (nheads, headdim) or null (a per-head D is repeated)
  const void* z = nullptr;        // (batch, seqlen, nheads, headdim), dtype, or null
  const float* dt_bias = nullptr; // (nheads) or null
  const float* initial_states = nullptr;  // (batch, nheads, headdim, dstate) or null
  // Sequence id per position (batch, seqlen) or null; the state restarts where it changes.
  const std::int64_t* seq_idx = nullptr;
  // Packed-sequence offsets (nseq + 1) or null; needs seq_idx and batch == 1.
  const std::int64_t* cu_seqlens = nullptr;
  long long nseq = 0;

  void* out = nullptr;             // (batch, seqlen, nheads, headdim), dtype
  float* final_states = nullptr;   // (batch, nheads, headdim, dstate)
  float* varlen_states = nullptr;  // (nseq, nheads, headdim, dstate) when cu_seqlens is set

  // chunk_scan_workspace_bytes(args) bytes of device memory, or null. With it, sequences may
  // run as two halves that hand the state over, which shortens the last wave when there are
  // more (batch, head) pairs than resident blocks; without it the result is the same, slower.
  void* workspace = nullptr;
};

// Device bytes the caller may allocate for `workspace` (0 when the kernel has no use for it).
// Depends on the shape and dtype only.
std::size_t chunk_scan_workspace_bytes(const ChunkScanDeviceArgs& args);

// Enqueues the scan on `stream`: no host transfer, no synchronisation (a small memset of the
// workspace's flags when it is used). The result does not depend on ChunkScanParams::chunk_size,
// so the kernel picks its own chunk. Throws std::invalid_argument for shapes it cannot run and
// the CUDA error of a failed launch.
void launch_chunk_scan(const ChunkScanDeviceArgs& args, cudaStream_t stream);

}  // namespace ssmkit::cuda
