#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ssmkit/backend.hpp"
#include "ssmkit/golden.hpp"

namespace ssmkit {

using NamedTensors = std::map<std::string, Tensor>;

// One operation call built from a golden file: its checked parameters, a one-line shape
// summary for reports, and how to run it on any backend, returning outputs named as in
// the golden's `outputs/` group and shaped as there.
class OpCase {
 public:
  virtual ~OpCase() = default;
  virtual std::string shape_summary() const = 0;
  virtual NamedTensors run(Backend& backend) const = 0;
};

// Throws InputError for an unknown op or inputs that do not fit the op's signature.
std::unique_ptr<OpCase> make_op_case(const GoldenCase& golden);
std::vector<std::string> known_ops();

}  // namespace ssmkit
