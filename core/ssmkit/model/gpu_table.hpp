#pragma once
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace ssmkit {

// Memory of a GPU as its driver reports it (nvidia-smi memory.total), the figure an
// engine's utilization fraction is taken of. Datasheet "80GB" and the driver's total
// differ; `source` says where each number was seen.
struct GpuMemory {
  std::string_view name;         // what --gpu takes: "h100"
  std::string_view description;  // "NVIDIA H100 80GB HBM3 (SXM)"
  std::size_t bytes = 0;
  std::string_view source;
};

std::span<const GpuMemory> gpu_table();
// `name` matches case-insensitively ("H100", "h100"); InputError(where, field) listing the
// known names when it is none of them.
const GpuMemory& gpu_memory(std::string_view name, const std::string& where,
                            const std::string& field);

}  // namespace ssmkit
