#pragma once
#include <string_view>

#include "ssmkit/compare.hpp"
#include "ssmkit/dtype.hpp"

namespace ssmkit {

// The default tolerance for an operation whose inputs hold values of `input_dtype`.
// The table and the reasons for each number are in tolerance.cpp and README.md.
Tolerance default_tolerance(std::string_view op, DType input_dtype);

}  // namespace ssmkit
