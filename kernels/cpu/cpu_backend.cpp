#include "cpu_backend.hpp"

#include <cstring>
#include <vector>

namespace ssmkit {

OpResult CpuBackend::run(const OpParams& op) {
  return std::visit(
      [](const auto& p) -> OpResult {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, MemoryCopyParams>) {
          std::vector<std::byte> src(static_cast<std::size_t>(p.bytes), std::byte{1});
          std::vector<std::byte> dst(src.size());
          std::memcpy(dst.data(), src.data(), src.size());
          return MemoryCopyResult{};
        } else {
          return cpu_kernel(p);
        }
      },
      op);
}

}  // namespace ssmkit
