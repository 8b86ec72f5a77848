#pragma once
// Generic calls over the op list: a call's name, and running it on a backend with outputs
// under their golden names.
#include <string>

#include "ssmkit/ops/op_list.hpp"

namespace ssmkit {

class Backend;

// The golden-file op name ("selective_scan", ...; "memory_copy" for the copy).
std::string op_name(const OpParams& op);

// Outputs of any result under their golden names and shapes (none for a memory copy).
NamedTensors named_outputs(const OpResult& result);

// The backend's run of the call, outputs named as in the golden (host tensors in and out).
NamedTensors run_op(Backend& backend, const OpParams& op);

}  // namespace ssmkit
