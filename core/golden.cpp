#include "ssmkit/golden.hpp"

#include <cmath>

#include "ssmkit/error.hpp"
#include "ssmkit/golden_guard.hpp"
#include "ssmkit/limits.hpp"
#include "ssmkit/tolerance.hpp"

namespace ssmkit {
namespace {

std::string attr_field(const std::string& name) { return "attribute '" + name + "'"; }

// Elements over all of a case's datasets, bounded as each one is.
void count_elements(std::int64_t& total, const Tensor& t, const GoldenCase& c, const std::string& name) {
  total += t.numel();
  if (total > limits::kMaxGoldenElementsPerCase) {
    throw InputError(c.where(), name,
                     "at most limits::kMaxGoldenElementsPerCase = " +
                         std::to_string(limits::kMaxGoldenElementsPerCase) +
                         " elements over all datasets of a case");
  }
}

GoldenCase read_golden(const std::filesystem::path& path) {
  Hdf5Reader file(path);
  GoldenCase c;
  c.path = path;
  for (const auto& name : file.attribute_names("/")) c.attrs[name] = file.read_attribute(name);
  if (!c.has_attr("op")) {
    throw InputError(c.where(), "attribute 'op'", "missing root attribute naming the operation");
  }
  c.op = c.text("op", "");
  if (c.has_attr("input_dtype")) {
    const std::string name = c.text("input_dtype", "float32");
    auto dtype = parse_dtype(name);
    if (!dtype || !is_floating(*dtype)) {
      throw InputError(c.where(), attr_field("input_dtype"),
                       "expected float32, float64, bfloat16 or float16, got '" + name + "'");
    }
    c.input_dtype = *dtype;
  }
  c.reference = c.text("reference", "");
  if (c.has_attr("atol")) c.atol = c.number("atol", 0.0);
  if (c.has_attr("rtol")) c.rtol = c.number("rtol", 0.0);
  for (const auto* tol : {&c.atol, &c.rtol}) {
    if (*tol) require_tolerance_value(**tol, c.where(), attr_field(tol == &c.atol ? "atol" : "rtol"));
  }
  if (!file.has_group("inputs")) throw InputError(c.where(), "group 'inputs'", "group is missing");
  // outputs/ may be absent: `validate --candidate` completes such a golden with the CPU
  // reference; plain `validate` reports it as an input error.
  std::int64_t elements = 0;
  for (const std::string group : {"inputs", "outputs"}) {
    if (group == "outputs" && !file.has_group(group)) break;
    auto& into = group == "inputs" ? c.inputs : c.outputs;
    for (const auto& name : file.members(group)) {
      if (!file.has_dataset(group + "/" + name)) {
        throw InputError(c.where(), group + "/" + name, "expected a dataset, found a group");
      }
      into[name] = file.read_tensor(group + "/" + name);
      count_elements(elements, into[name], c, group + "/" + name);
    }
  }
  return c;
}

}  // namespace

GoldenCase load_golden(const std::filesystem::path& path) {
  // libhdf5 is not safe against hostile files: a child reads the file first.
  probe_in_child(path, [&] { read_golden(path); });
  return read_golden(path);
}

bool GoldenCase::flag(const std::string& name, bool fallback) const {
  if (!has_attr(name)) return fallback;
  const double v = number(name, 0.0);
  if (v != 0.0 && v != 1.0) {
    throw InputError(where(), attr_field(name), "expected a boolean (0 or 1), got " +
                                                    std::to_string(v));
  }
  return v != 0.0;
}

double GoldenCase::number(const std::string& name, double fallback) const {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  const auto* values = std::get_if<std::vector<double>>(&it->second);
  if (values == nullptr || values->size() != 1) {
    throw InputError(where(), attr_field(name), "expected a single number");
  }
  return values->front();
}

std::int64_t GoldenCase::integer(const std::string& name, std::int64_t fallback) const {
  if (!has_attr(name)) return fallback;
  const double v = number(name, 0.0);
  // Whole numbers a double holds exactly; beyond 2^53 the conversion would invent a value.
  if (!std::isfinite(v) || std::floor(v) != v || std::fabs(v) > 9007199254740992.0) {
    throw InputError(where(), attr_field(name), "expected an integer of at most 2^53 in magnitude");
  }
  return static_cast<std::int64_t>(v);
}

std::string GoldenCase::text(const std::string& name, const std::string& fallback) const {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  const auto* value = std::get_if<std::string>(&it->second);
  if (value == nullptr) throw InputError(where(), attr_field(name), "expected a string");
  return *value;
}

std::vector<double> GoldenCase::numbers(const std::string& name,
                                        std::vector<double> fallback) const {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  const auto* values = std::get_if<std::vector<double>>(&it->second);
  if (values == nullptr) throw InputError(where(), attr_field(name), "expected numbers");
  return *values;
}

const Tensor* GoldenCase::input(const std::string& name) const {
  auto it = inputs.find(name);
  return it == inputs.end() ? nullptr : &it->second;
}

}  // namespace ssmkit
