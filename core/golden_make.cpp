#include "ssmkit/golden_make.hpp"

#include <algorithm>

#include "ssmkit/error.hpp"
#include "ssmkit/name_match.hpp"
#include "ssmkit/op_case.hpp"

namespace ssmkit {
namespace {

GoldenCall golden_call_of(const OpParams& call) {
  return std::visit(
      []<class P>(const P& p) -> GoldenCall {
        if constexpr (std::is_same_v<P, MemoryCopyParams>) {
          throw std::logic_error("memory_copy has no golden form");
        } else {
          return OpDescriptor<P>::golden_call(p);
        }
      },
      call);
}

std::string op_name_of(const OpParams& call) {
  return std::visit([]<class P>(const P&) { return std::string(OpTraits<P>::name); }, call);
}

// As the file stores it: floats in float32 (their values are exact in the input dtype)
// or float64, indices in int64.
Tensor stored(const Tensor& t, DType input_dtype) {
  if (!is_floating(t.dtype())) return t.to(DType::int64);
  return t.to(input_dtype == DType::float64 ? DType::float64 : DType::float32);
}

}  // namespace

GoldenCase make_golden(const GoldenMakeRequest& request, Backend& reference,
                       const std::filesystem::path& out) {
  GoldenCall call = golden_call_of(request.call);
  GoldenCase golden;
  golden.path = out;
  golden.op = op_name_of(request.call);
  const GoldenNames names = golden_names_of(golden);
  for (const auto& name : request.without) {
    if (std::find(names.inputs.begin(), names.inputs.end(), name) == names.inputs.end()) {
      std::string msg = golden.op + " has no input named '" + name + "'";
      if (auto near = closest_name(name, names.inputs, 2)) msg += "; did you mean '" + *near + "'?";
      throw InputError("--without", name, msg + " It takes: " + join_names(names.inputs));
    }
    if (call.inputs.erase(name) == 0) {
      throw InputError("--without", name, "this call has no '" + name + "' to leave out");
    }
  }
  golden.attrs = call.attrs;
  golden.attrs["op"] = golden.op;
  golden.attrs["reference"] = std::string(kGoldenMakeReference);
  for (const auto& [key, value] : request.provenance) golden.attrs[key] = value;
  const std::string dtype = std::get<std::string>(golden.attrs.at("input_dtype"));
  golden.input_dtype = *parse_dtype(dtype);
  for (auto& [name, t] : call.inputs) {
    t = stored(t, golden.input_dtype);
    golden.inputs[name] = is_floating(t.dtype()) ? t.to(DType::float64) : t;
  }
  // A required input left out is the op's own InputError, naming the dataset.
  std::unique_ptr<OpCase> op_case;
  try {
    op_case = make_op_case(golden);
  } catch (const InputError& e) {
    throw InputError("golden make", "--without", e.what());
  }
  golden.outputs = op_case->run(reference);

  Hdf5Writer file(out);
  for (const auto& [key, value] : golden.attrs) file.write_attribute(key, value);
  for (const auto& [name, t] : call.inputs) file.write_tensor("inputs/" + name, t);
  for (const auto& [name, t] : golden.outputs) {
    golden.outputs[name] = t.to(DType::float64);
    file.write_tensor("outputs/" + name, golden.outputs[name]);
  }
  return golden;
}

}  // namespace ssmkit
