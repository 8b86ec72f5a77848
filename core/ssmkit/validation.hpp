#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ssmkit/backend.hpp"
#include "ssmkit/compare.hpp"
#include "ssmkit/suite.hpp"

namespace ssmkit {

enum class CaseStatus { pass, fail, input_error, backend_error };
std::string_view status_name(CaseStatus status);  // PASS, FAIL, ERROR, ERROR

struct OutputCheck {
  std::string name;
  Comparison comparison;
};

// One row of a validation report: one golden case on one backend.
struct CaseResult {
  std::string case_name;  // "<op dir>/<file stem>"
  std::string path;
  std::string op;
  std::string backend;  // "-" when the case could not be loaded
  std::string shapes;
  std::string input_dtype;
  Tolerance tolerance;
  std::vector<OutputCheck> outputs;           // every expected output, compared
  std::vector<std::string> free_attributes;  // root attributes the op does not read
  CaseStatus status = CaseStatus::pass;
  std::string message;  // why it failed or could not run
  double seconds = 0.0;

  double max_abs_error() const;
  double max_rel_l2_error() const;
};

// Command-line tolerances; they take precedence over a suite entry's, which take
// precedence over the golden file's own attributes, which override the defaults.
struct ValidationOptions {
  std::optional<double> atol, rtol;
};

// Loads the golden file once and runs it on every backend. A file that cannot be used
// yields a single input_error row; a backend that throws yields a backend_error row.
std::vector<CaseResult> validate_case(const SuiteEntry& entry,
                                      const std::vector<Backend*>& backends,
                                      const ValidationOptions& options);

CaseResult input_error_row(const InputError& error);

// Outputs some other implementation produced for one golden's inputs (`validate
// --candidate`): HDF5 datasets under outputs/, named as the golden's.
struct Candidate {
  std::filesystem::path path;
  std::string name;         // attribute `implementation`, else the file stem
  std::string golden;       // attribute `golden` (a golden file's name or path), or ""
  NamedTensors outputs;
};
// InputError naming the file for a missing outputs/ group or unreadable attributes.
Candidate load_candidate(const std::filesystem::path& path);

// The candidate's outputs compared with the golden's expected ones (actual = candidate,
// expected = reference). A golden without outputs is completed first by `reference`
// (the CPU backend). A candidate dataset the op does not know is an input error; an
// expected output the candidate lacks is a FAIL naming it.
CaseResult validate_candidate(const SuiteEntry& golden_entry, const Candidate& candidate,
                              Backend& reference, const ValidationOptions& options);

}  // namespace ssmkit
