#pragma once
#include <limits>
#include <vector>

#include "ssmkit/tensor.hpp"

namespace ssmkit {

// Mamba2 prefill (SSD) as mamba_ssm's mamba_chunk_scan_combined: per head a scalar decay,
// B/C shared by groups of heads, optional packed variable-length sequences.
struct ChunkScanParams {
  std::int64_t batch = 0, seqlen = 0, nheads = 0, headdim = 0, ngroups = 1, dstate = 0;
  std::int64_t chunk_size = 256;
  bool dt_softplus = false;
  double dt_min = 0.0, dt_max = std::numeric_limits<double>::infinity();
  DType input_dtype = DType::float32;
  Tensor x;               // (batch, seqlen, nheads, headdim)
  Tensor dt;              // (batch, seqlen, nheads)
  Tensor A;               // (nheads)
  Tensor B, C;            // (batch, seqlen, ngroups, dstate)
  Tensor D;               // (nheads, headdim) or undefined (per-head D is repeated)
  Tensor z;               // (batch, seqlen, nheads, headdim) or undefined
  Tensor dt_bias;         // (nheads) or undefined
  Tensor initial_states;  // (batch, nheads, headdim, dstate) or undefined
  // Sequence id of each position (batch * seqlen), empty when every row is one sequence.
  // The state restarts at zero where the id changes; initial_states feed a row's first one.
  std::vector<std::int64_t> seq_idx;
  // Packed sequences' offsets (nseq + 1), empty unless varlen_states are wanted.
  std::vector<std::int64_t> cu_seqlens;
};

struct ChunkScanResult {
  Tensor out;            // (batch, seqlen, nheads, headdim)
  Tensor final_states;   // (batch, nheads, headdim, dstate)
  Tensor varlen_states;  // (nseq, nheads, headdim, dstate) when cu_seqlens is given
};

}  // namespace ssmkit
