#include "backends.hpp"

#include "cpu/cpu_backend.hpp"
#include "ssmkit/error.hpp"
#ifdef SSMKIT_HAVE_CUDA
#include "cuda/cuda_backend.hpp"
#endif

namespace ssmkit {

std::vector<std::string> backend_names() { return {"cpu", "cuda"}; }

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "cpu") return std::make_unique<CpuBackend>();
  if (name == "cuda") {
#ifdef SSMKIT_HAVE_CUDA
    return std::make_unique<CudaBackend>();
#else
    throw BackendUnavailable(
        "backend 'cuda' is not available: this ssmkit build has no CUDA backend (configured "
        "without nvcc or with -DSSMKIT_CUDA=OFF)");
#endif
  }
  throw InputError("--backend", name, "unknown backend; expected cpu, cuda or all");
}

std::unique_ptr<Backend> replay_backend(const std::string& name) {
  return name == "cpu" ? nullptr : make_backend(name);
}

}  // namespace ssmkit
