#pragma once
#include <vector>

#include "ssmkit/tensor.hpp"

namespace ssmkit {

// The gated delta rule (Gated DeltaNet, Yang et al. 2024) and its per-channel-decay form
// (Kimi Delta Attention, Kimi Linear 2025). Per sequence and value head, with a K x V state S:
//   S = diag(exp(g_t)) S;  u = beta_t (v_t - S^T k_t);  S = S + k_t u^T;  o_t = scale S^T q_t
// g is one log decay per head (GDN) or per key channel (KDA). Value head hv reads q/k head
// hv / (HV / H) (flash-linear-attention's grouped value heads).
enum class DeltaDecay { per_head, per_key };

struct DeltaRuleInputs {
  std::int64_t batch = 0, seqlen = 0;
  std::int64_t nheads = 0;    // H: heads of q and k
  std::int64_t v_heads = 0;   // HV: heads of v and of the state, a multiple of H
  std::int64_t key_dim = 0, value_dim = 0;
  double scale = 0.0;         // the caller's scale; golden files default it to K^-0.5
  bool qk_l2norm = false;     // q and k divided by sqrt(sum x^2 + 1e-6) first
  DType input_dtype = DType::float32;
  Tensor q, k;  // (batch, seqlen, nheads, key_dim)
  Tensor v;     // (batch, seqlen, v_heads, value_dim)
  Tensor g;     // (batch, seqlen, v_heads), or (batch, seqlen, v_heads, key_dim) per key
  Tensor beta;  // (batch, seqlen, v_heads)
};

// Prefill (fla's chunk_gated_delta_rule / chunk_kda): whole prompts, optionally packed.
template <DeltaDecay D>
struct DeltaRuleParams : DeltaRuleInputs {
  static constexpr DeltaDecay decay = D;
  Tensor initial_state;  // (sequences, v_heads, key_dim, value_dim) or undefined (zeros)
  // Packed sequences (batch 1): sequence n is tokens [cu[n], cu[n+1]); empty: one per row.
  std::vector<std::int64_t> cu_seqlens;
  std::int64_t sequences() const {
    return cu_seqlens.empty() ? batch : static_cast<std::int64_t>(cu_seqlens.size()) - 1;
  }
};
template <DeltaDecay D>
struct DeltaRuleResult {
  Tensor o;            // (batch, seqlen, v_heads, value_dim)
  Tensor final_state;  // (sequences, v_heads, key_dim, value_dim)
};

// Decode (vLLM's fused_recurrent_gated_delta_rule on its state pool): each batch row runs
// its seqlen tokens (one, or a few when speculating) from its slot of the pool and writes
// the state back there.
template <DeltaDecay D>
struct DeltaRuleUpdateParams : DeltaRuleInputs {
  static constexpr DeltaDecay decay = D;
  std::int64_t state_slots = 0;  // leading size of `state` (== batch without indices)
  DType state_dtype = DType::float32;  // what a backend keeps the pool in
  Tensor state;                  // (state_slots, v_heads, key_dim, value_dim)
  // Row b's slot; empty: row b owns slot b. A row whose index is pad_slot_id is skipped:
  // its output is zero and no slot changes.
  std::vector<std::int64_t> state_indices;
  std::int64_t pad_slot_id = -1;
};
template <DeltaDecay D>
struct DeltaRuleUpdateResult {
  Tensor o;            // (batch, seqlen, v_heads, value_dim)
  Tensor final_state;  // (state_slots, v_heads, key_dim, value_dim): the pool after the call
};

using GatedDeltaRuleParams = DeltaRuleParams<DeltaDecay::per_head>;
using GatedDeltaRuleResult = DeltaRuleResult<DeltaDecay::per_head>;
using GatedDeltaRuleUpdateParams = DeltaRuleUpdateParams<DeltaDecay::per_head>;
using GatedDeltaRuleUpdateResult = DeltaRuleUpdateResult<DeltaDecay::per_head>;
using KdaParams = DeltaRuleParams<DeltaDecay::per_key>;
using KdaResult = DeltaRuleResult<DeltaDecay::per_key>;
using KdaUpdateParams = DeltaRuleUpdateParams<DeltaDecay::per_key>;
using KdaUpdateResult = DeltaRuleUpdateResult<DeltaDecay::per_key>;

}  // namespace ssmkit
