#include "ssmkit/model/gpu_table.hpp"

#include <array>

#include "ssmkit/error.hpp"
#include "ssmkit/names.hpp"

namespace ssmkit {
namespace {

constexpr std::size_t kMiB = 1024 * 1024;

// memory.total as nvidia-smi prints it, in MiB. The CUDA runtime's total (cudaMemGetInfo,
// what vLLM's gpu_memory_utilization multiplies) can be slightly lower.
constexpr std::array kGpus{
    GpuMemory{"h100", "NVIDIA H100 80GB HBM3 (SXM)", 81559 * kMiB,
              "nvidia-smi memory.total 81559MiB (NVIDIA/nccl issue 1264; "
              "modal-labs/modal-client PR 2797)"},
    GpuMemory{"h200", "NVIDIA H200 141GB HBM3e", 143771 * kMiB,
              "nvidia-smi memory.total 143771MiB (nvidia-smi outputs in several public "
              "repositories)"},
    GpuMemory{"a100-80gb", "NVIDIA A100 80GB", 81920 * kMiB,
              "nvidia-smi memory.total 81920MiB (modal-labs/modal-client PR 2797)"},
    GpuMemory{"a100-40gb", "NVIDIA A100 40GB", 40960 * kMiB,
              "nvidia-smi memory.total 40960MiB (modal-labs/modal-client PR 2797)"},
    GpuMemory{"l40s", "NVIDIA L40S 48GB", 46068 * kMiB,
              "nvidia-smi memory.total 46068MiB (modal-labs/modal-client PR 2797)"},
    GpuMemory{"l4", "NVIDIA L4 24GB", 23034 * kMiB,
              "nvidia-smi memory.total 23034MiB (modal-labs/modal-client PR 2797)"},
    GpuMemory{"a10", "NVIDIA A10 24GB", 23028 * kMiB,
              "nvidia-smi memory.total 23028MiB (modal-labs/modal-client PR 2797)"},
    GpuMemory{"t4", "NVIDIA T4 16GB", 15360 * kMiB,
              "nvidia-smi memory.total 15360MiB (modal-labs/modal-client PR 2797)"},
};

}  // namespace

std::span<const GpuMemory> gpu_table() { return kGpus; }

const GpuMemory& gpu_memory(std::string_view name, const std::string& where,
                            const std::string& field) {
  for (const GpuMemory& g : kGpus) {
    if (equals_ignoring_case(g.name, name)) return g;
  }
  std::string known;
  for (const GpuMemory& g : kGpus) known += (known.empty() ? "" : ", ") + std::string(g.name);
  throw InputError(where, field, "a GPU name (" + known + "), got \"" + std::string(name) + "\"");
}

}  // namespace ssmkit
