#pragma once
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <unistd.h>

#include "ssmkit/error.hpp"
#include "ssmkit/golden.hpp"
#include "ssmkit/hdf5_file.hpp"
#include "ssmkit/tensor.hpp"

namespace ssmkit::test {

// The InputError `f` throws; one naming "(none)" when it throws none, so that a check of
// its field fails visibly.
inline InputError error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e;
  }
  return InputError("(none)", "(none)", "no InputError was thrown");
}

inline Tensor random_tensor(Shape shape, std::mt19937& rng, double lo = -1.0, double hi = 1.0) {
  Tensor t(DType::float64, std::move(shape));
  std::uniform_real_distribution<double> dist(lo, hi);
  for (auto& v : t.span<double>()) v = dist(rng);
  return t;
}

inline Tensor full(Shape shape, double value) {
  Tensor t(DType::float64, std::move(shape));
  for (auto& v : t.span<double>()) v = value;
  return t;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return INFINITY;
  double m = 0.0;
  for (std::int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a.value(i) - b.value(i)));
  return m;
}

// Bit-for-bit equality, NaN payloads included.
inline bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0;
}

struct GoldenSpec {
  std::string op;
  std::map<std::string, AttrValue> attrs;
  std::map<std::string, Tensor> inputs, outputs;
};

inline void write_golden(const std::filesystem::path& path, const GoldenSpec& spec) {
  Hdf5Writer w(path);
  w.write_attribute("op", spec.op);
  for (const auto& [k, v] : spec.attrs) w.write_attribute(k, v);
  for (const auto& [k, v] : spec.inputs) w.write_tensor("inputs/" + k, v);
  for (const auto& [k, v] : spec.outputs) w.write_tensor("outputs/" + k, v);
}

// Rewrites a golden with every output multiplied by (1 + relative).
inline void write_perturbed(const std::filesystem::path& from, const std::filesystem::path& to,
                            double relative) {
  const GoldenCase g = load_golden(from);
  GoldenSpec spec;
  spec.op = g.op;
  spec.attrs = g.attrs;
  spec.attrs.erase("op");
  spec.inputs = g.inputs;
  for (const auto& [name, t] : g.outputs) {
    Tensor p = t.to(DType::float64);
    for (auto& v : p.span<double>()) v *= 1.0 + relative;
    spec.outputs[name] = p;
  }
  write_golden(to, spec);
}

// A fresh directory under the build tree's temp space, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("ssmkit_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace ssmkit::test
