// The generic part of the byte and FLOP floors; each op's formula is in core/ops/<family>.cpp.
#include "ssmkit/bench/bench_case.hpp"

#include <algorithm>
#include <cmath>

namespace ssmkit::bench {

Traffic traffic(const OpParams& op) {
  return std::visit(
      [](const auto& p) {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, MemoryCopyParams>) {
          Traffic t;
          t.bytes = 2.0 * static_cast<double>(p.bytes);
          t.formula = "bytes = read + write of the buffer";
          return t;
        } else {
          return OpDescriptor<P>::traffic(p);
        }
      },
      op);
}

int default_copies(const Traffic& traffic) {
  constexpr double kPassBytes = 256.0 * (1 << 20);
  constexpr int kMaxCopies = 64;
  const int copies = static_cast<int>(std::ceil(kPassBytes / std::max(traffic.bytes, 1.0)));
  return std::clamp(copies, 1, kMaxCopies);
}

}  // namespace ssmkit::bench
