#include "ssmkit/shape_binder.hpp"

#include "ssmkit/error.hpp"

namespace ssmkit {

void ShapeBinder::fail(const std::string& field, const std::string& expected) const {
  throw InputError(golden_.where(), field, expected);
}

std::string ShapeBinder::describe(const Layout& layout) const {
  std::string out = "(";
  for (std::size_t i = 0; i < layout.size(); ++i) {
    out += (i ? ", " : "") + layout[i];
    if (auto it = sizes_.find(layout[i]); it != sizes_.end()) {
      out += "=" + std::to_string(it->second);
    }
  }
  return out + ")";
}

bool ShapeBinder::matches(const Tensor& t, const Layout& layout) const {
  if (t.rank() != static_cast<int>(layout.size())) return false;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    auto it = sizes_.find(layout[i]);
    if (it != sizes_.end() && it->second != t.shape()[i]) return false;
    // A symbol repeated inside one layout must agree with itself.
    for (std::size_t j = 0; j < i; ++j) {
      if (layout[j] == layout[i] && t.shape()[j] != t.shape()[i]) return false;
    }
  }
  return true;
}

void ShapeBinder::bind_all(const std::string& name, const Tensor& t, const Layout& layout) {
  for (std::size_t i = 0; i < layout.size(); ++i) bind(layout[i], t.shape()[i], name);
}

void ShapeBinder::bind(const std::string& symbol, std::int64_t size, const std::string& source) {
  auto it = sizes_.find(symbol);
  if (it == sizes_.end()) {
    if (size <= 0) {
      fail("inputs/" + source, "dimension " + symbol + " must be positive, got " +
                                   std::to_string(size));
    }
    sizes_[symbol] = size;
  } else if (it->second != size) {
    fail("inputs/" + source, "dimension " + symbol + " is " + std::to_string(it->second) +
                                 " elsewhere, got " + std::to_string(size));
  }
}

const Tensor& ShapeBinder::require(const std::string& name, const Layout& layout) {
  one_of(name, {layout}, true);
  return golden_.inputs.at(name);
}

const Tensor* ShapeBinder::optional(const std::string& name, const Layout& layout) {
  return one_of(name, {layout}, false) < 0 ? nullptr : &golden_.inputs.at(name);
}

int ShapeBinder::one_of(const std::string& name, const std::vector<Layout>& layouts,
                        bool required) {
  const Tensor* t = golden_.input(name);
  std::string wanted;
  for (std::size_t i = 0; i < layouts.size(); ++i) {
    wanted += (i ? " or " : "") + describe(layouts[i]);
  }
  if (t == nullptr) {
    if (required) fail("inputs/" + name, "dataset is missing; expected shape " + wanted);
    return -1;
  }
  if (t->numel() == 0 && !t->shape().empty()) {
    fail("inputs/" + name, "dataset is empty, shape " + shape_str(t->shape()));
  }
  for (std::size_t i = 0; i < layouts.size(); ++i) {
    if (matches(*t, layouts[i])) {
      bind_all(name, *t, layouts[i]);
      return static_cast<int>(i);
    }
  }
  fail("inputs/" + name, "expected shape " + wanted + ", got " + shape_str(t->shape()));
}

std::int64_t ShapeBinder::size(const std::string& symbol) const {
  auto it = sizes_.find(symbol);
  if (it == sizes_.end()) throw std::logic_error("dimension " + symbol + " was never bound");
  return it->second;
}

void ShapeBinder::require_divisible(const std::string& numerator,
                                    const std::string& denominator) const {
  if (size(numerator) % size(denominator) != 0) {
    fail("inputs", "dimension " + numerator + "=" + std::to_string(size(numerator)) +
                       " must be a multiple of " + denominator + "=" +
                       std::to_string(size(denominator)));
  }
}

void ShapeBinder::require_integer(const std::string& name) const {
  const Tensor* t = golden_.input(name);
  if (t != nullptr && is_floating(t->dtype())) {
    fail("inputs/" + name, "expected an integer dataset (int32 or int64), got a float one");
  }
}

}  // namespace ssmkit
