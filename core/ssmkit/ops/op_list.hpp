#pragma once
// The one list of operations. Every generic piece of ssmkit (the golden registry, OpParams,
// the backends' kernel tables, bench cases, traffic, checks, tolerances) is generated from
// it, and each op's pieces are defined in one place: core/ops/<family>.cpp for what the core
// knows (OpDescriptor below), kernels/cpu/<family>.cpp and kernels/cuda/<family>.cu for its
// implementations. Adding an op is one line here; a piece it lacks fails the build.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ssmkit/hdf5_file.hpp"

#include "ssmkit/ops/causal_conv1d.hpp"
#include "ssmkit/ops/chunk_scan.hpp"
#include "ssmkit/ops/gated_delta_rule.hpp"
#include "ssmkit/ops/gated_rmsnorm.hpp"
#include "ssmkit/ops/lightning_attention.hpp"
#include "ssmkit/ops/paged_kv.hpp"
#include "ssmkit/ops/selective_scan.hpp"

// X(parameter type, result type, golden-file op name)
#define SSMKIT_FOR_EACH_OP(X)                                                            \
  X(CausalConv1dParams, CausalConv1dResult, "causal_conv1d")                             \
  X(CausalConv1dUpdateParams, CausalConv1dUpdateResult, "causal_conv1d_update")          \
  X(SelectiveScanParams, SelectiveScanResult, "selective_scan")                          \
  X(SelectiveStateUpdateParams, SelectiveStateUpdateResult, "selective_state_update")    \
  X(ChunkScanParams, ChunkScanResult, "mamba_chunk_scan_combined")                       \
  X(GatedRmsNormParams, GatedRmsNormResult, "gated_rmsnorm")                             \
  X(LightningAttentionParams, LightningAttentionResult, "lightning_attention")           \
  X(PagedKvWriteParams, PagedKvWriteResult, "paged_kv_write")                            \
  X(PagedKvGatherParams, PagedKvGatherResult, "paged_kv_gather")                         \
  X(GatedDeltaRuleParams, GatedDeltaRuleResult, "gated_delta_rule")                      \
  X(GatedDeltaRuleUpdateParams, GatedDeltaRuleUpdateResult, "gated_delta_rule_update")   \
  X(KdaParams, KdaResult, "kda")                                                         \
  X(KdaUpdateParams, KdaUpdateResult, "kda_update")

namespace ssmkit {

class OpCase;
struct GoldenCase;
using NamedTensors = std::map<std::string, Tensor>;

namespace bench {
struct Traffic;
struct BenchCase;
struct ShapePreset;
struct SweepOptions;
struct Slice;
class CaseList;
}  // namespace bench

// A plain memory copy of `bytes`: the bandwidth every op's speed is compared with. Not an
// op of the list: no golden, no reference, only bench.
struct MemoryCopyParams {
  std::int64_t bytes = 0;
};
struct MemoryCopyResult {};

template <class P>
struct OpTraits;  // Result and name, from the list
#define SSMKIT_OP_TRAITS(P, R, NAME)                  \
  template <>                                         \
  struct OpTraits<P> {                                \
    using Result = R;                                 \
    static constexpr std::string_view name = NAME;    \
  };
SSMKIT_FOR_EACH_OP(SSMKIT_OP_TRAITS)
SSMKIT_OP_TRAITS(MemoryCopyParams, MemoryCopyResult, "memory_copy")
#undef SSMKIT_OP_TRAITS

template <class P>
using ResultOf = typename OpTraits<P>::Result;

#define SSMKIT_OP_PARAMS_TYPE(P, R, NAME) P,
#define SSMKIT_OP_RESULT_TYPE(P, R, NAME) R,
// Any one call (or its result) as a value, so that validate, bench and replay hold, slice
// and run calls of every op through one interface.
using OpParams = std::variant<SSMKIT_FOR_EACH_OP(SSMKIT_OP_PARAMS_TYPE) MemoryCopyParams>;
using OpResult = std::variant<SSMKIT_FOR_EACH_OP(SSMKIT_OP_RESULT_TYPE) MemoryCopyResult>;
#undef SSMKIT_OP_PARAMS_TYPE
#undef SSMKIT_OP_RESULT_TYPE

// How wide a comparison's tolerance is (tolerance.cpp holds the numbers per input dtype).
enum class ToleranceClass {
  pointwise,     // a short reduction: a conv window, a norm, one decode step
  accumulating,  // a scan over the sequence
  exact,         // a copy: any difference is wrong
};

// The independent units a bench check can recompute alone (channels, heads, rows).
struct CheckUnits {
  std::int64_t batch = 1, units = 1, per_group = 1;
  const char* name = "rows";
  bool sliceable = true;  // false: the reference runs on the whole call
};

// The names a golden file of an op may use: input and output datasets and the op's flag
// attributes (docs/golden-format.md gives their shapes). Anything else under inputs/ or
// outputs/ is an input error, so a misspelled name can never be skipped silently.
struct GoldenNames {
  std::vector<std::string> inputs, outputs, flags;
};

// One call as a golden file holds it: datasets under inputs/ and root attributes.
struct GoldenCall {
  NamedTensors inputs;
  std::map<std::string, AttrValue> attrs;
};

// Everything the core knows about one op. The members are defined for each op in
// core/ops/<family>.cpp; generic code reaches them through the op list.
template <class P>
struct OpDescriptor {
  static constexpr std::string_view name = OpTraits<P>::name;
  static ToleranceClass tolerance_class();
  // The dtype whose rounding the tolerance allows for: the inputs', or bfloat16 where the
  // call keeps a state in bfloat16 (the decode ops' `state_dtype`), which rounds like a
  // bfloat16 activation.
  static DType tolerance_dtype(const P& p) {
    if constexpr (requires { p.state_dtype; }) {
      if (p.state_dtype == DType::bfloat16) return DType::bfloat16;
    }
    return p.input_dtype;
  }
  // Outputs under their golden names and shapes.
  static NamedTensors outputs(const ResultOf<P>& r);
  // The call a golden file describes; InputError naming the dataset or attribute.
  static std::unique_ptr<OpCase> golden_case(const GoldenCase& golden);
  static GoldenNames golden_names();
  // The call written as a golden's inputs and flags (`ssmkit golden make`); golden_case
  // reads it back as the same call.
  static GoldenCall golden_call(const P& p);
  // Byte and FLOP floors of one call (bench/bench_case.hpp says how they are counted).
  static bench::Traffic traffic(const P& p);
  // The call of a bench case with seeded random inputs.
  static P random_call(const bench::BenchCase& c);
  // The bench cases a model's shapes give this op, in `dtype`.
  static void bench_cases(const bench::ShapePreset& preset, const bench::SweepOptions& sweep,
                          DType dtype, bench::CaseList& cases);
  // Units for the bench check, and the call and outputs cut down to a slice of them.
  static CheckUnits check_units(const P& p);
  static P slice(const P& p, const bench::Slice& s);
  static NamedTensors slice_outputs(const P& p, const NamedTensors& outputs, const bench::Slice& s);
};

#define SSMKIT_DECLARE_OP_DESCRIPTOR(P, R, NAME)                                                 \
  template <> ToleranceClass OpDescriptor<P>::tolerance_class();                                 \
  template <> NamedTensors OpDescriptor<P>::outputs(const R&);                                   \
  template <> std::unique_ptr<OpCase> OpDescriptor<P>::golden_case(const GoldenCase&);           \
  template <> GoldenNames OpDescriptor<P>::golden_names();                                       \
  template <> GoldenCall OpDescriptor<P>::golden_call(const P&);                                 \
  template <> bench::Traffic OpDescriptor<P>::traffic(const P&);                                 \
  template <> P OpDescriptor<P>::random_call(const bench::BenchCase&);                           \
  template <> void OpDescriptor<P>::bench_cases(const bench::ShapePreset&,                       \
                                                const bench::SweepOptions&, DType,               \
                                                bench::CaseList&);                               \
  template <> CheckUnits OpDescriptor<P>::check_units(const P&);                                 \
  template <> P OpDescriptor<P>::slice(const P&, const bench::Slice&);                           \
  template <> NamedTensors OpDescriptor<P>::slice_outputs(const P&, const NamedTensors&,         \
                                                          const bench::Slice&);
SSMKIT_FOR_EACH_OP(SSMKIT_DECLARE_OP_DESCRIPTOR)
#undef SSMKIT_DECLARE_OP_DESCRIPTOR
// Calls f.template operator()<P>() for every op of the list, in list order.
template <class F>
void for_each_op(F&& f) {
#define SSMKIT_VISIT_OP(P, R, NAME) f.template operator()<P>();
  SSMKIT_FOR_EACH_OP(SSMKIT_VISIT_OP)
#undef SSMKIT_VISIT_OP
}

}  // namespace ssmkit
