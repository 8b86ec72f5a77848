#include "case_util.hpp"

#include <algorithm>
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

std::vector<std::int64_t> packed_offsets(const GoldenCase& g, ShapeBinder& s, std::int64_t batch,
                                         std::int64_t seqlen) {
  if (!g.input("cu_seqlens")) return {};
  s.require_integer("cu_seqlens");
  s.require("cu_seqlens", {"S+1"});
  std::vector<std::int64_t> cu = to_indices(*g.input("cu_seqlens"));
  if (batch != 1) s.fail("inputs/cu_seqlens", "packed sequences need batch B=1");
  if (cu.size() < 2 || cu.front() != 0 || cu.back() != seqlen) {
    s.fail("inputs/cu_seqlens", "expected offsets from 0 to L=" + std::to_string(seqlen));
  }
  for (std::size_t i = 1; i < cu.size(); ++i) {
    if (cu[i] <= cu[i - 1]) {
      s.fail("inputs/cu_seqlens", "offsets must increase strictly (sequence " +
                                      std::to_string(i - 1) + " is empty or negative)");
    }
  }
  return cu;
}

void check_slots(const ShapeBinder& s, const std::string& dataset,
                 const std::vector<std::int64_t>& indices, std::int64_t slots, std::int64_t pad) {
  std::vector<bool> taken(static_cast<std::size_t>(std::max<std::int64_t>(slots, 0)));
  for (auto slot : indices) {
    if (slot != pad && (slot < 0 || slot >= slots)) {
      s.fail("inputs/" + dataset, "slot " + std::to_string(slot) + " is outside [0, " +
                                      std::to_string(slots) + ") and is not the pad slot id " +
                                      std::to_string(pad));
    }
    if (slot == pad) continue;
    // Two rows updating one slot would race in every engine's kernel.
    if (taken[static_cast<std::size_t>(slot)]) {
      s.fail("inputs/" + dataset, "slot " + std::to_string(slot) + " is named by two rows");
    }
    taken[static_cast<std::size_t>(slot)] = true;
  }
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
