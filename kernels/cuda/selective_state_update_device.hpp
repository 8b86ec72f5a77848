#pragma once
// Device-resident selective_state_update (one decode step of the Mamba/Mamba2 recurrence):
// raw device pointers and sizes, no host transfers, no synchronisation.
#include <cuda_runtime.h>

#include <cstdint>

#include "ssmkit/dtype.hpp"

namespace ssmkit::cuda {

// Tensors are contiguous. Activations (x, dt, B, C, z, out) are in `act_dtype`; the state
// in `state_dtype` (float32 or bfloat16), updated in place; A, D and dt_bias in float32.
struct SelectiveStateUpdateDeviceArgs {
  void* state = nullptr;  // (state_slots, nheads, headdim, dstate)
  const void* x = nullptr;   // (batch, nheads, headdim)
  const void* dt = nullptr;  // (batch, nheads) if dt_per_head else (batch, nheads, headdim)
  const float* A = nullptr;  // (nheads) if a_per_head else (nheads, headdim, dstate)
  const void* B = nullptr;   // (batch, ngroups, dstate)
  const void* C = nullptr;   // (batch, ngroups, dstate)
  const float* D = nullptr;        // (nheads) or (nheads, headdim) or null
  const void* z = nullptr;         // (batch, nheads, headdim) or null
  const float* dt_bias = nullptr;  // (nheads) or (nheads, headdim) or null
  const std::int64_t* state_batch_indices = nullptr;  // (batch) or null: row b owns slot b
  std::int64_t pad_slot_id = -1;  // rows mapped to this slot are skipped; their out is 0
  void* out = nullptr;            // (batch, nheads, headdim)
  std::int64_t batch = 0, nheads = 0, headdim = 0, dstate = 0, ngroups = 1;
  bool dt_per_head = false, a_per_head = false, d_per_head = false, dt_bias_per_head = false;
  bool dt_softplus = false;
  DType act_dtype = DType::float32;
  DType state_dtype = DType::float32;
};

// Throws std::invalid_argument for an unsupported dtype; launch errors as CUDA errors.
void launch_selective_state_update(const SelectiveStateUpdateDeviceArgs& args,
                                   cudaStream_t stream);

// For tests: make every later launch use the kernel with `rows` state rows per thread (1 or
// 4), so that both are checked at any size; 0 (the default) chooses by the grid's size.
void force_state_update_rows_per_thread(int rows);

// For tests: forces `rows` per thread while it lives, then the choice by grid size again.
class ForcedStateUpdateRows {
 public:
  explicit ForcedStateUpdateRows(int rows) { force_state_update_rows_per_thread(rows); }
  ~ForcedStateUpdateRows() { force_state_update_rows_per_thread(0); }
  ForcedStateUpdateRows(const ForcedStateUpdateRows&) = delete;
  ForcedStateUpdateRows& operator=(const ForcedStateUpdateRows&) = delete;
};

}  // namespace ssmkit::cuda
