#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ssmkit/backend.hpp"
#include "ssmkit/golden.hpp"
#include "ssmkit/ops/op_list.hpp"

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

// Throws InputError for an unknown op, a dataset the op does not know, an attribute that
// looks like a misspelled flag, or inputs that do not fit the op's signature.
std::unique_ptr<OpCase> make_op_case(const GoldenCase& golden);
std::vector<std::string> known_ops();

// The names the golden's op knows (InputError for an unknown op).
GoldenNames golden_names_of(const GoldenCase& golden);
// Root attributes every golden may carry: op, input_dtype, atol, rtol, reference.
const std::vector<std::string>& common_golden_attributes();
// The strict name check make_op_case runs; returns the free metadata attributes (those
// neither common nor a flag of the op, and not near one), which are allowed and reported.
std::vector<std::string> check_golden_names(const GoldenCase& golden);

}  // namespace ssmkit
