#pragma once
#include <memory>
#include <string>

#include "ssmkit/bench/prepared_op.hpp"
#include "ssmkit/cache/cache_storage.hpp"
#include "ssmkit/ops/op_list.hpp"

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

  // Every op through one entry point: the kernel table of the backend (one implementation
  // per op of the list in ssmkit/ops/op_list.hpp). Host tensors in and out.
  virtual OpResult run(const OpParams& op) = 0;

  // The same, typed: backend.call(params) returns that op's result struct.
  template <class P>
  ResultOf<P> call(const P& params) {
    return std::get<ResultOf<P>>(run(OpParams(params)));
  }

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
