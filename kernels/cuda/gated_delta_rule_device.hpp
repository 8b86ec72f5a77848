#pragma once
// Device-resident gated delta rule (Gated DeltaNet, KDA), prefill and decode: raw device
// pointers and sizes, no host transfers, no synchronisation.
#include <cuda_runtime.h>

#include <cstdint>

#include "ssmkit/dtype.hpp"

namespace ssmkit::cuda {

struct DeltaRuleDeviceArgs {
  const void* q = nullptr;   // (batch, seqlen, nheads, key_dim) in act_dtype
  const void* k = nullptr;
  const void* v = nullptr;   // (batch, seqlen, v_heads, value_dim) in act_dtype
  const float* g = nullptr;  // (batch, seqlen, v_heads[, key_dim]) log decay
  const float* beta = nullptr;  // (batch, seqlen, v_heads)
  void* o = nullptr;         // (batch, seqlen, v_heads, value_dim) in act_dtype
  // Sequence n starts from state_in slot(n) (zeros when null) and ends in state_out slot(n),
  // each (slots, v_heads, key_dim, value_dim) in state_dtype; the same buffer for a pool
  // updated in place.
  const void* state_in = nullptr;
  void* state_out = nullptr;
  DType state_dtype = DType::float32;
  const std::int64_t* slots = nullptr;  // (sequences) or null: sequence n uses slot n
  std::int64_t pad_slot_id = -1;        // a sequence in this slot is skipped, its o zero
  const std::int64_t* cu_seqlens = nullptr;  // (sequences + 1) over batch row 0, or null
  std::int64_t batch = 0, seqlen = 0, nheads = 0, v_heads = 0, key_dim = 0, value_dim = 0;
  std::int64_t sequences = 0;
  float scale = 1.f;
  bool qk_l2norm = false;
  bool per_key_decay = false;  // g holds key_dim decays per head (KDA)
  DType act_dtype = DType::float32;
};

void launch_delta_rule(const DeltaRuleDeviceArgs& args, cudaStream_t stream);

}  // namespace ssmkit::cuda
