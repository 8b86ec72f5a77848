// CudaBackend::run: every op through its binding (op_bindings.hpp).
#include "cuda_backend.hpp"
#include "op_bindings.hpp"

namespace ssmkit {

OpResult CudaBackend::run(const OpParams& op) {
  const auto bound = cuda::bind(op);
  bound->launch(nullptr);
  return bound->result();  // the device-to-host copy waits for the kernel
}

}  // namespace ssmkit
