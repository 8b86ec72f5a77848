#pragma once
// An op call made ready to run many times on a backend: inputs resident where the backend
// computes, in `copies` independent sets that are used in turn, so that a timed pass reads
// more data than the caches hold; outputs can be read back for the correctness check.
#include <memory>
#include <string>

#include "ssmkit/bench/op_params.hpp"

namespace ssmkit {

struct PrepareOptions {
  int copies = 1;      // independent input/output sets (>= 1)
  bool graph = false;  // replay one pass as a CUDA graph where the backend can
};

class PreparedOp {
 public:
  virtual ~PreparedOp() = default;
  virtual int copies() const = 0;
  // One call on input set `copy`; it has finished when this returns.
  virtual void run(int copy) = 0;
  // One call on every input set, back to back; the seconds the whole pass took on the
  // backend's own clock (CUDA events on a GPU, a steady clock on the CPU).
  virtual double time_pass() = 0;
  // The outputs of input set `copy` as the last call left them (in-place ops included).
  virtual NamedTensors outputs(int copy) = 0;
  // How time_pass measures ("cuda events", "cuda graph replay", "steady clock").
  virtual std::string timer() const = 0;
};

// The generic preparation: one input set, the backend's ordinary op call (host tensors in
// and out) timed with a steady clock. Right for the CPU reference; for a device backend it
// would time the transfers too, so device backends override Backend::prepare.
std::unique_ptr<PreparedOp> prepare_on_host(Backend& backend, const OpParams& op);

}  // namespace ssmkit
