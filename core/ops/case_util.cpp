#include "case_util.hpp"

#include <cmath>

#include "ssmkit/error.hpp"

namespace ssmkit::detail {

Tensor repeat_last(const Tensor& t, std::int64_t times) {
  Shape shape = t.shape();
  shape.push_back(times);
  Tensor out(DType::float64, shape);
  auto dst = out.span<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    for (std::int64_t j = 0; j < times; ++j) dst[i * times + j] = t.value(i);
  }
  return out;
}

std::vector<std::int64_t> to_indices(const Tensor& t) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(t.numel()));
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    out[i] = static_cast<std::int64_t>(std::llround(t.value(i)));
  }
  return out;
}

bool silu_activation(const GoldenCase& golden) {
  if (!golden.has_attr("activation")) return false;
  const AttrValue& v = golden.attrs.at("activation");
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (*s == "silu" || *s == "swish") return true;
    if (*s == "none" || s->empty()) return false;
    throw InputError(golden.where(), "attribute 'activation'",
                     "expected \"silu\", \"swish\" or \"none\", got \"" + *s + "\"");
  }
  return golden.flag("activation", false);
}

void put_input(GoldenCall& call, const std::string& name, const Tensor& t) {
  if (t.defined()) call.inputs[name] = t;
}

void put_indices(GoldenCall& call, const std::string& name, const std::vector<std::int64_t>& v,
                 Shape shape) {
  if (!v.empty()) call.inputs[name] = Tensor::from_vector<std::int64_t>(std::move(shape), v);
}

GoldenCall golden_call_in(DType input_dtype) {
  GoldenCall call;
  call.attrs["input_dtype"] = std::string(dtype_name(input_dtype));
  return call;
}

std::string dims_summary(const ShapeBinder& shapes, const std::vector<std::string>& symbols) {
  std::string out;
  for (const auto& s : symbols) {
    if (!shapes.bound(s)) continue;
    out += (out.empty() ? "" : " ") + s + "=" + std::to_string(shapes.size(s));
  }
  return out;
}

}  // namespace ssmkit::detail
