#include "ssmkit/validation.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <new>

#include "ssmkit/op_case.hpp"
#include "ssmkit/tolerance.hpp"

namespace ssmkit {

std::string_view status_name(CaseStatus status) {
  switch (status) {
    case CaseStatus::pass: return "PASS";
    case CaseStatus::fail: return "FAIL";
    case CaseStatus::input_error:
    case CaseStatus::backend_error: return "ERROR";
  }
  return "?";
}

double CaseResult::max_abs_error() const {
  double m = 0.0;
  for (const auto& o : outputs) m = std::max(m, o.comparison.max_abs_error);
  return m;
}

double CaseResult::max_rel_l2_error() const {
  double m = 0.0;
  for (const auto& o : outputs) m = std::max(m, o.comparison.rel_l2_error);
  return m;
}

namespace {

std::string case_name_of(const std::filesystem::path& path) {
  const auto parent = path.parent_path().filename().string();
  return (parent.empty() ? "" : parent + "/") + path.stem().string();
}

Tolerance resolve_tolerance(const GoldenCase& g, const SuiteEntry& entry,
                            const ValidationOptions& options) {
  Tolerance t = default_tolerance(g.op, g.input_dtype);
  if (g.atol) t.atol = *g.atol;
  if (g.rtol) t.rtol = *g.rtol;
  if (entry.atol) t.atol = *entry.atol;
  if (entry.rtol) t.rtol = *entry.rtol;
  if (options.atol) t.atol = *options.atol;
  if (options.rtol) t.rtol = *options.rtol;
  return t;
}

std::string describe_failure(const OutputCheck& check) {
  const Comparison& c = check.comparison;
  if (!c.shape_matches) return check.name + ": backend returned a different shape";
  std::string msg = check.name + ": ";
  if (c.nonfinite > 0) msg += std::to_string(c.nonfinite) + " NaN/Inf values; ";
  msg += std::to_string(c.mismatches) + "/" + std::to_string(c.elements) +
         " elements outside tolerance";
  if (c.worst_index >= 0) {
    // Nine significant digits: a miss under a tight tolerance shows where the two differ.
    char got[64], expected[64];
    std::snprintf(got, sizeof got, "%.9g", c.worst_actual);
    std::snprintf(expected, sizeof expected, "%.9g", c.worst_expected);
    msg += ", worst at " + multi_index_str(c.shape, c.worst_index) + ": got " + got + ", expected " + expected;
  }
  return msg;
}

}  // namespace

CaseResult input_error_row(const InputError& error) {
  CaseResult row;
  row.case_name = case_name_of(error.where());
  row.path = error.where();
  row.backend = "-";
  row.status = CaseStatus::input_error;
  row.message = error.what();
  return row;
}

std::vector<CaseResult> validate_case(const SuiteEntry& entry,
                                      const std::vector<Backend*>& backends,
                                      const ValidationOptions& options) {
  GoldenCase golden;
  std::unique_ptr<OpCase> op_case;
  try {
    golden = load_golden(entry.path);
    op_case = make_op_case(golden);
  } catch (const std::exception& e) {
    // One file's bad input (or one too large to hold) stops that file, not the run.
    const auto* input = dynamic_cast<const InputError*>(&e);
    CaseResult row = input_error_row(
        input ? *input
              : InputError(entry.path.string(), "",
                           std::string("cannot be loaded: ") +
                               (dynamic_cast<const std::bad_alloc*>(&e) ? "out of host memory (std::bad_alloc)"
                                                                         : e.what())));
    row.case_name = case_name_of(entry.path);
    row.path = entry.path.string();
    row.op = golden.op;
    return {row};
  }
  const Tolerance tolerance = resolve_tolerance(golden, entry, options);

  std::vector<CaseResult> rows;
  for (Backend* backend : backends) {
    CaseResult row;
    row.case_name = case_name_of(entry.path);
    row.path = entry.path.string();
    row.op = golden.op;
    row.backend = backend->name();
    row.shapes = op_case->shape_summary();
    row.input_dtype = std::string(dtype_name(golden.input_dtype));
    row.tolerance = tolerance;
    const auto start = std::chrono::steady_clock::now();
    NamedTensors produced;
    try {
      produced = op_case->run(*backend);
    } catch (const std::exception& e) {
      row.status = CaseStatus::backend_error;
      row.message = backend->name() + " backend failed: " + e.what();
      rows.push_back(row);
      continue;
    }
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const auto& [name, expected] : golden.outputs) {
      auto it = produced.find(name);
      if (it == produced.end()) continue;  // extra datasets are allowed and ignored
      if (it->second.shape() != expected.shape()) {
        // The op computes its output's shape from the inputs: a dataset of another shape is
        // the golden's error, not the backend's.
        return {input_error_row(InputError(entry.path.string(), "outputs/" + name,
                                           "shape " + shape_str(it->second.shape()) +
                                               ", as the op computes it from the inputs; got " +
                                               shape_str(expected.shape())))};
      }
      row.outputs.push_back({name, compare(it->second, expected, tolerance)});
    }
    if (row.outputs.empty()) {
      std::string known;
      for (const auto& [name, t] : produced) known += (known.empty() ? "" : ", ") + name;
      return {input_error_row(InputError(entry.path.string(), "group 'outputs'",
                                         "holds none of this op's outputs (" + known + ")"))};
    }
    for (const auto& check : row.outputs) {
      if (!check.comparison.passed()) {
        row.status = CaseStatus::fail;
        row.message += (row.message.empty() ? "" : "; ") + describe_failure(check);
      }
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace ssmkit
