#pragma once
// Device-resident selective_scan (Mamba1 prefill): raw device pointers and sizes, no host
// transfers, no synchronisation.
#include <cuda_runtime.h>

#include <cstdint>

#include "ssmkit/dtype.hpp"

namespace ssmkit::cuda {

// Contiguous tensors; activations (u, delta, B, C, z, out) in `act_dtype`, A, D and
// delta_bias in float32, last_state in float32.
struct SelectiveScanDeviceArgs {
  const void* u = nullptr;      // (batch, dim, seqlen)
  const void* delta = nullptr;  // (batch, dim, seqlen)
  const float* A = nullptr;     // (dim, dstate)
  const void* B = nullptr;      // (batch, ngroups, dstate, seqlen)
  const void* C = nullptr;      // (batch, ngroups, dstate, seqlen)
  const float* D = nullptr;           // (dim) or null
  const void* z = nullptr;            // (batch, dim, seqlen) or null
  const float* delta_bias = nullptr;  // (dim) or null
  void* out = nullptr;                // (batch, dim, seqlen)
  float* last_state = nullptr;        // (batch, dim, dstate)
  // (batch, dim, dstate) or null (zeros): the state before the first step, so a prefill
  // can continue where an earlier chunk stopped. May alias last_state (each thread reads
  // its own elements before it writes them).
  const float* initial_state = nullptr;
  std::int64_t batch = 0, dim = 0, seqlen = 0, dstate = 0, ngroups = 1;
  bool delta_softplus = false;
  DType act_dtype = DType::float32;
};

void launch_selective_scan(const SelectiveScanDeviceArgs& args, cudaStream_t stream);

}  // namespace ssmkit::cuda
