#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ssmkit/dtype.hpp"
#include "ssmkit/hdf5_file.hpp"
#include "ssmkit/tensor.hpp"

namespace ssmkit {

// One golden file (docs/golden-format.md): an operation, its flags, its inputs and
// the outputs an independent reference produced. Float datasets are held as float64,
// integer ones as int64. Typed accessors throw InputError naming the file and attribute.
struct GoldenCase {
  std::filesystem::path path;
  std::string op;
  std::map<std::string, AttrValue> attrs;
  std::map<std::string, Tensor> inputs;
  std::map<std::string, Tensor> outputs;
  DType input_dtype = DType::float32;
  std::string reference;
  std::optional<double> atol, rtol;

  bool has_attr(const std::string& name) const { return attrs.count(name) != 0; }
  bool flag(const std::string& name, bool fallback) const;
  double number(const std::string& name, double fallback) const;
  std::int64_t integer(const std::string& name, std::int64_t fallback) const;
  std::string text(const std::string& name, const std::string& fallback) const;
  std::vector<double> numbers(const std::string& name, std::vector<double> fallback) const;

  const Tensor* input(const std::string& name) const;  // nullptr when absent (None)
  std::string where() const { return path.string(); }
};

GoldenCase load_golden(const std::filesystem::path& path);

}  // namespace ssmkit
