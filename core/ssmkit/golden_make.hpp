#pragma once
// `ssmkit golden make`: a golden file for any op of the list, from one seeded random call.
// The outputs come from the float64 CPU reference, so such a golden checks another
// implementation against ssmkit's reference (a consistency check), not against an
// independent one as the bundled goldens do.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ssmkit/backend.hpp"
#include "ssmkit/golden.hpp"

namespace ssmkit {

struct GoldenMakeRequest {
  OpParams call;                                 // from a bench case's random_call
  std::vector<std::string> without;              // optional inputs to leave out
  std::map<std::string, AttrValue> provenance;   // seed, model, settings: written as attributes
};

// Writes the golden to `out` and returns it as a reader would load it. InputError naming
// the input for a `without` entry the op does not take or requires.
GoldenCase make_golden(const GoldenMakeRequest& request, Backend& reference,
                       const std::filesystem::path& out);

inline constexpr const char* kGoldenMakeReference = "ssmkit golden make (CPU float64 reference)";

}  // namespace ssmkit
