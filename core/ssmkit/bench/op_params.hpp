#pragma once
// Any one operation call as a value, so that benchmarks and checks can hold, slice and run
// calls of every op through one interface.
#include <map>
#include <string>
#include <variant>

#include "ssmkit/ops/causal_conv1d.hpp"
#include "ssmkit/ops/chunk_scan.hpp"
#include "ssmkit/ops/gated_rmsnorm.hpp"
#include "ssmkit/ops/lightning_attention.hpp"
#include "ssmkit/ops/paged_kv.hpp"
#include "ssmkit/ops/selective_scan.hpp"

namespace ssmkit {

class Backend;
using NamedTensors = std::map<std::string, Tensor>;  // as in op_case.hpp

// A plain memory copy of `bytes`: the bandwidth every op's speed is compared with.
struct MemoryCopyParams {
  std::int64_t bytes = 0;
};

using OpParams = std::variant<CausalConv1dParams, CausalConv1dUpdateParams, SelectiveScanParams,
                              SelectiveStateUpdateParams, ChunkScanParams, GatedRmsNormParams,
                              LightningAttentionParams, PagedKvWriteParams, PagedKvGatherParams,
                              MemoryCopyParams>;

// The golden-file op name ("selective_scan", ...; "memory_copy" for the copy).
std::string op_name(const OpParams& op);

// Outputs under their golden names and shapes, from a result struct.
NamedTensors named_outputs(const CausalConv1dResult& r);
NamedTensors named_outputs(const CausalConv1dUpdateResult& r);
NamedTensors named_outputs(const SelectiveScanResult& r);
NamedTensors named_outputs(const SelectiveStateUpdateResult& r);
NamedTensors named_outputs(const ChunkScanResult& r);
NamedTensors named_outputs(const GatedRmsNormResult& r);
NamedTensors named_outputs(const LightningAttentionResult& r);
NamedTensors named_outputs(const PagedKvWriteResult& r);
NamedTensors named_outputs(const PagedKvGatherResult& r);

// Calls the backend's op (host tensors in and out). A memory copy is done on the host.
NamedTensors run_op(Backend& backend, const OpParams& op);

}  // namespace ssmkit
