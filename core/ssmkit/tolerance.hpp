#pragma once
#include <string>
#include <string_view>

#include "ssmkit/compare.hpp"
#include "ssmkit/dtype.hpp"
#include "ssmkit/ops/op_list.hpp"

namespace ssmkit {

// The tolerance of a class of op (ssmkit/ops/op_list.hpp) for inputs of `input_dtype`.
Tolerance tolerance_for(ToleranceClass kind, DType input_dtype);

// The default tolerance for an operation whose inputs hold values of `input_dtype`.
// The table and the reasons for each number are in tolerance.cpp and README.md.
Tolerance default_tolerance(std::string_view op, DType input_dtype);

// An atol or rtol given by a golden, a suite entry or the command line must be finite and
// >= 0 (NaN or infinity would pass every case): InputError(where, field, ...) otherwise.
void require_tolerance_value(double value, const std::string& where, const std::string& field);

}  // namespace ssmkit
