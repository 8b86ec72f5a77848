#include "cuda_backend.hpp"
#include "cuda_check.hpp"
#include "cuda_step_executor.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {

CudaBackend::CudaBackend() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    throw BackendUnavailable(std::string("backend 'cuda' is not available: no CUDA device (") +
                             (err != cudaSuccess ? cudaGetErrorString(err) : "0 devices") + ")");
  }
  int device = 0;
  SSMKIT_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  SSMKIT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  int driver = 0;
  SSMKIT_CUDA_CHECK(cudaDriverGetVersion(&driver));
  description_ = std::string(prop.name) + ", sm_" + std::to_string(prop.major) +
                 std::to_string(prop.minor) + ", driver CUDA " + std::to_string(driver / 1000) +
                 "." + std::to_string((driver % 1000) / 10);
  storage_ = std::make_unique<cuda::CudaStorage>(device);
}

std::unique_ptr<StepExecutor> CudaBackend::step_executor(HybridCache& cache, const ModelSpec&) {
  // The cache's own configuration (one tensor-parallel rank's share) sizes every kernel.
  return std::make_unique<cuda::CudaStepExecutor>(cache);
}

}  // namespace ssmkit
