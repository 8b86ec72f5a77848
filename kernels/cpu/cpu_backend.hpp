#pragma once
#include "ssmkit/backend.hpp"

namespace ssmkit {

// The CPU kernel of every op of the list, one definition per op in kernels/cpu/<family>.cpp.
template <class P>
ResultOf<P> cpu_kernel(const P& params);
#define SSMKIT_DECLARE_CPU_KERNEL(P, R, NAME) template <> R cpu_kernel<P>(const P&);
SSMKIT_FOR_EACH_OP(SSMKIT_DECLARE_CPU_KERNEL)
#undef SSMKIT_DECLARE_CPU_KERNEL

// The reference: plain loops over float64, whatever `input_dtype` says. Every other
// backend is validated against goldens made independently of this code, and compared to
// it on random inputs where no golden exists.
class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::string device_description() const override { return "CPU float64 reference"; }
  OpResult run(const OpParams& op) override;
};

}  // namespace ssmkit
