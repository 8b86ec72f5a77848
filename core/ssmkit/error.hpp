#pragma once
#include <stdexcept>
#include <string>

namespace ssmkit {

// Something the user handed us is wrong: a file, a dataset, an attribute, a flag or a
// YAML field. Carries where (file), what (field) and what was expected, so every layer
// can report it the same way; the apps map it to exit status 2.
class InputError : public std::runtime_error {
 public:
  InputError(std::string where, std::string field, std::string expected)
      : std::runtime_error(format(where, field, expected)),
        where_(std::move(where)),
        field_(std::move(field)),
        expected_(std::move(expected)) {}

  const std::string& where() const { return where_; }
  const std::string& field() const { return field_; }
  const std::string& expected() const { return expected_; }

 private:
  static std::string format(const std::string& where, const std::string& field,
                            const std::string& expected) {
    std::string msg = where;
    if (!field.empty()) msg += (msg.empty() ? "" : ": ") + field;
    return msg + ": " + expected;
  }
  std::string where_, field_, expected_;
};

// A backend was asked for something it cannot do here (no GPU, not built with CUDA).
class BackendUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ssmkit
