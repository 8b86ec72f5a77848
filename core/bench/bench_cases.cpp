// The generic part of bench cases; each op's shapes and inputs are in core/ops/<family>.cpp.
#include <algorithm>
#include <stdexcept>

#include "ssmkit/bench/bench_case.hpp"

namespace ssmkit::bench {
namespace {

std::string short_dtype(DType d) {
  switch (d) {
    case DType::float32: return "f32";
    case DType::bfloat16: return "bf16";
    case DType::float16: return "f16";
    default: return std::string(dtype_name(d));
  }
}

}  // namespace

std::string CaseList::term(const char* symbol, std::int64_t value) {
  return std::string(symbol) + "=" + std::to_string(value);
}

void CaseList::add(std::string_view op, std::map<std::string, std::int64_t> dims,
                   const std::string& shape, DType dtype, std::optional<DType> state_dtype,
                   bool decode) {
  BenchCase c;
  c.op = std::string(op), c.preset = preset_, c.dims = std::move(dims), c.shape = shape;
  c.dtype = dtype, c.state_dtype = state_dtype, c.decode = decode;
  c.name = c.op + "/" + preset_ + "/" + shape + "/" + short_dtype(dtype) +
           (state_dtype ? "/state=" + short_dtype(*state_dtype) : "");
  std::replace(c.name.begin(), c.name.end(), ' ', '/');
  c.seed = std::hash<std::string>{}(c.name);
  // Sweeps can meet one case twice (gated_rmsnorm's rows = B x L from (1, 32) and (2, 16)).
  const bool seen = std::any_of(cases_.begin(), cases_.end(),
                                [&](const BenchCase& o) { return o.name == c.name; });
  if (!seen) cases_.push_back(std::move(c));
}

OpParams BenchCase::make_params() const {
  std::optional<OpParams> call;
  for_each_op([&]<class P>() {
    if (op == OpTraits<P>::name) call = OpDescriptor<P>::random_call(*this);
  });
  if (!call) throw std::logic_error("bench: no op named " + op);
  return std::move(*call);
}

std::vector<std::string> bench_op_names() {
  std::vector<std::string> names;
  for_each_op([&]<class P>() { names.emplace_back(OpTraits<P>::name); });
  return names;
}

std::vector<BenchCase> make_cases(const ShapePreset& preset, const SweepOptions& sweep) {
  CaseList cases(preset.name);
  for (DType dtype : sweep.dtypes) {
    for_each_op([&]<class P>() {
      const std::string_view name = OpTraits<P>::name;
      if (sweep.ops.empty() || std::find(sweep.ops.begin(), sweep.ops.end(), name) != sweep.ops.end()) {
        OpDescriptor<P>::bench_cases(preset, sweep, dtype, cases);
      }
    });
  }
  return cases.take();
}

}  // namespace ssmkit::bench
