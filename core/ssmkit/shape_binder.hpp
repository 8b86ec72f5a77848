#pragma once
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "ssmkit/golden.hpp"

namespace ssmkit {

// Checks a golden case's input shapes against symbolic layouts such as {"B", "D", "L"}.
// The first dataset that shows a symbol fixes its size; a later disagreement is an
// InputError naming the dataset, the layout expected and the shape found.
class ShapeBinder {
 public:
  using Layout = std::vector<std::string>;
  explicit ShapeBinder(const GoldenCase& golden) : golden_(golden) {}

  // The input, which must exist and match `layout`.
  const Tensor& require(const std::string& name, const Layout& layout);
  // The input if present (checked), else nullptr.
  const Tensor* optional(const std::string& name, const Layout& layout);
  // The input (if present) must match one of `layouts`, chosen by rank; returns the index
  // of the layout it matched, or -1 when the input is absent and not required.
  int one_of(const std::string& name, const std::vector<Layout>& layouts, bool required);

  void bind(const std::string& symbol, std::int64_t size, const std::string& source);
  std::int64_t size(const std::string& symbol) const;
  bool bound(const std::string& symbol) const { return sizes_.count(symbol) != 0; }
  // `numerator` must be a multiple of `denominator`, else an InputError naming both.
  void require_divisible(const std::string& numerator, const std::string& denominator) const;
  // A float input must be floating, an index input integral.
  void require_integer(const std::string& name) const;

  [[noreturn]] void fail(const std::string& field, const std::string& expected) const;
  std::string describe(const Layout& layout) const;  // "(B=2, D=4, L)"

 private:
  bool matches(const Tensor& t, const Layout& layout) const;
  void bind_all(const std::string& name, const Tensor& t, const Layout& layout);

  const GoldenCase& golden_;
  std::map<std::string, std::int64_t> sizes_;
};

}  // namespace ssmkit
