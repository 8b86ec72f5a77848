#pragma once
#include <memory>
#include <string>

#include "ssmkit/bench/prepared_op.hpp"
#include "ssmkit/cache/cache_storage.hpp"
#include "ssmkit/ops/causal_conv1d.hpp"
#include "ssmkit/ops/chunk_scan.hpp"
#include "ssmkit/ops/gated_rmsnorm.hpp"
#include "ssmkit/ops/lightning_attention.hpp"
#include "ssmkit/ops/paged_kv.hpp"
#include "ssmkit/ops/selective_scan.hpp"

namespace ssmkit {

class HybridCache;
struct ModelSpec;
class StepExecutor;

// One implementation of every operation. `validate` and `bench` drive any backend through
// this interface; inputs arrive and outputs leave as float64 host tensors, and a backend
// computes in whatever precision it implements for `input_dtype`.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // What a report should say about the machine ("CPU float64 reference", a GPU's name).
  virtual std::string device_description() const = 0;

  virtual CausalConv1dResult causal_conv1d(const CausalConv1dParams& p) = 0;
  virtual CausalConv1dUpdateResult causal_conv1d_update(const CausalConv1dUpdateParams& p) = 0;
  virtual SelectiveScanResult selective_scan(const SelectiveScanParams& p) = 0;
  virtual SelectiveStateUpdateResult selective_state_update(
      const SelectiveStateUpdateParams& p) = 0;
  virtual ChunkScanResult mamba_chunk_scan_combined(const ChunkScanParams& p) = 0;
  virtual GatedRmsNormResult gated_rmsnorm(const GatedRmsNormParams& p) = 0;
  virtual LightningAttentionResult lightning_attention(const LightningAttentionParams& p) = 0;
  virtual PagedKvWriteResult paged_kv_write(const PagedKvWriteParams& p) = 0;
  virtual PagedKvGatherResult paged_kv_gather(const PagedKvGatherParams& p) = 0;

  // `bench`: the op made resident for repeated timed runs. The default runs the ordinary
  // op call above on the host; device backends override it to keep data on the device.
  virtual std::unique_ptr<PreparedOp> prepare(const OpParams& op, const PrepareOptions& options) {
    (void)options;
    return prepare_on_host(*this, op);
  }

  // Where caches used with this backend keep their storage: host memory by default, the
  // device's memory for a device backend. The allocator lives as long as the backend.
  virtual StorageAllocator& storage_allocator() { return host_storage(); }

  // `replay`: runs the kernels of every replay step, for every layer of `model`, on the
  // storage of `cache` (which must have been allocated where this backend computes). The
  // default is an InputError: the backend cannot run a kernel replay.
  virtual std::unique_ptr<StepExecutor> step_executor(HybridCache& cache, const ModelSpec& model);
};

}  // namespace ssmkit
