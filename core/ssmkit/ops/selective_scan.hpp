#pragma once
#include "ssmkit/tensor.hpp"

namespace ssmkit {

// Mamba1 prefill: h_t = exp(delta_t * A) h_{t-1} + delta_t B_t u_t, y_t = C_t h_t + D u_t.
struct SelectiveScanParams {
  std::int64_t batch = 0, dim = 0, seqlen = 0, dstate = 0, ngroups = 1;
  bool delta_softplus = false;
  DType input_dtype = DType::float32;
  Tensor u, delta;   // (batch, dim, seqlen)
  Tensor A;          // (dim, dstate)
  Tensor B, C;       // (batch, ngroups, dstate, seqlen); channel d reads group d / (dim/ngroups)
  Tensor D;          // (dim) or undefined
  Tensor z;          // (batch, dim, seqlen) or undefined: output gate silu(z)
  Tensor delta_bias; // (dim) or undefined
};

struct SelectiveScanResult {
  Tensor out;         // (batch, dim, seqlen)
  Tensor last_state;  // (batch, dim, dstate)
};

// One decode step of the recurrence on a cached state. Both mamba_ssm layouts map onto the
// multi-head one: Mamba1's (B, D, N) state is nheads=1, headdim=D, ngroups=1.
struct SelectiveStateUpdateParams {
  std::int64_t batch = 0, nheads = 0, headdim = 0, dstate = 0, ngroups = 1;
  std::int64_t state_slots = 0;  // leading size of `state` (== batch without indices)
  bool dt_softplus = false;
  DType input_dtype = DType::float32;
  // The dtype a backend keeps the state in (float32 or bfloat16); the reference computes in
  // float64 whatever it says.
  DType state_dtype = DType::float32;
  Tensor state;       // (state_slots, nheads, headdim, dstate)
  Tensor x;           // (batch, nheads, headdim)
  // Mamba2 keeps dt, A, D and dt_bias per head: each may drop its headdim/dstate axes.
  Tensor dt;          // (batch, nheads, headdim) or (batch, nheads)
  Tensor A;           // (nheads, headdim, dstate) or (nheads)
  Tensor B, C;        // (batch, ngroups, dstate)
  Tensor D;           // (nheads, headdim) or (nheads) or undefined
  Tensor z;           // (batch, nheads, headdim) or undefined
  Tensor dt_bias;     // (nheads, headdim) or (nheads) or undefined
  // Which state slot each batch row updates (engines keep states in a slot pool); empty
  // means row b updates slot b. A row whose index is `pad_slot_id` is skipped.
  std::vector<std::int64_t> state_batch_indices;
  std::int64_t pad_slot_id = -1;
};

struct SelectiveStateUpdateResult {
  Tensor out;    // (batch, nheads, headdim); rows of padding slots are zero
  Tensor state;  // (state_slots, nheads, headdim, dstate)
};

}  // namespace ssmkit
