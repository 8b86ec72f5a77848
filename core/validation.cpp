#include "ssmkit/validation.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <new>

#include "ssmkit/name_match.hpp"
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

// Compares every expected output with what was produced; one the producer lacks is a FAIL.
void compare_outputs(CaseResult& row, const NamedTensors& expected, const NamedTensors& produced,
                     const std::string& producer) {
  for (const auto& [name, want] : expected) {
    auto it = produced.find(name);
    if (it == produced.end()) {
      row.status = CaseStatus::fail;
      row.message += (row.message.empty() ? "" : "; ") + name + ": " + producer +
                     " returned no output of this name";
      continue;
    }
    row.outputs.push_back({name, compare(it->second, want, row.tolerance)});
  }
  for (const auto& check : row.outputs) {
    if (!check.comparison.passed()) {
      row.status = CaseStatus::fail;
      row.message += (row.message.empty() ? "" : "; ") + describe_failure(check);
    }
  }
}

CaseResult row_for(const SuiteEntry& entry, const GoldenCase& golden, const OpCase& op_case,
                   const std::vector<std::string>& free_attributes, const Tolerance& tolerance) {
  CaseResult row;
  row.case_name = case_name_of(entry.path);
  row.path = entry.path.string();
  row.op = golden.op;
  row.shapes = op_case.shape_summary();
  row.input_dtype = std::string(dtype_name(golden.input_dtype));
  row.tolerance = tolerance;
  row.free_attributes = free_attributes;
  return row;
}

struct LoadedGolden {
  GoldenCase golden;
  std::unique_ptr<OpCase> op_case;
  std::vector<std::string> free_attributes;
};

// InputError (also for an unreadable file) naming the golden; `g.golden` keeps what was
// read before the error (its op, for the report row).
void load_checked(const SuiteEntry& entry, LoadedGolden& g) {
  try {
    g.golden = load_golden(entry.path);
    g.op_case = make_op_case(g.golden);
    g.free_attributes = check_golden_names(g.golden);
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    // One file's bad input (or one too large to hold) stops that file, not the run.
    throw InputError(entry.path.string(), "",
                     std::string("cannot be loaded: ") +
                         (dynamic_cast<const std::bad_alloc*>(&e) ? "out of host memory (std::bad_alloc)"
                                                                   : e.what()));
  }
}

CaseResult error_row_for(const SuiteEntry& entry, const InputError& e, const std::string& op) {
  CaseResult row = input_error_row(e);
  row.case_name = case_name_of(entry.path);
  row.path = entry.path.string();
  row.op = op;
  return row;
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
  LoadedGolden g;
  try {
    load_checked(entry, g);
  } catch (const InputError& e) {
    return {error_row_for(entry, e, g.golden.op)};
  }
  const GoldenCase& golden = g.golden;
  if (golden.outputs.empty()) {
    return {error_row_for(entry, InputError(entry.path.string(), "group 'outputs'",
                                            "holds no expected outputs (" +
                                                join_names(golden_names_of(golden).outputs) +
                                                "); `validate --candidate` completes such a "
                                                "golden with the CPU reference"),
                          golden.op)};
  }
  const Tolerance tolerance = resolve_tolerance(golden, entry, options);

  std::vector<CaseResult> rows;
  for (Backend* backend : backends) {
    CaseResult row = row_for(entry, golden, *g.op_case, g.free_attributes, tolerance);
    row.backend = backend->name();
    const auto start = std::chrono::steady_clock::now();
    NamedTensors produced;
    try {
      produced = g.op_case->run(*backend);
    } catch (const std::exception& e) {
      row.status = CaseStatus::backend_error;
      row.message = backend->name() + " backend failed: " + e.what();
      rows.push_back(row);
      continue;
    }
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const auto& [name, expected] : golden.outputs) {
      auto it = produced.find(name);
      if (it != produced.end() && it->second.shape() != expected.shape()) {
        // The op computes its output's shape from the inputs: a dataset of another shape is
        // the golden's error, not the backend's.
        return {input_error_row(InputError(entry.path.string(), "outputs/" + name,
                                           "shape " + shape_str(it->second.shape()) +
                                               ", as the op computes it from the inputs; got " +
                                               shape_str(expected.shape())))};
      }
    }
    compare_outputs(row, golden.outputs, produced, "the " + backend->name() + " backend");
    rows.push_back(row);
  }
  return rows;
}

Candidate load_candidate(const std::filesystem::path& path) {
  Hdf5Reader file(path);
  Candidate c;
  c.path = path;
  c.name = path.stem().string();
  for (const auto& attr : file.attribute_names("/")) {
    if (attr != "implementation" && attr != "golden") continue;
    const auto value = file.read_attribute(attr);
    const auto* text = std::get_if<std::string>(&value);
    if (text == nullptr || text->empty()) {
      throw InputError(path.string(), "attribute '" + attr + "'", "expected a non-empty string");
    }
    (attr == "implementation" ? c.name : c.golden) = *text;
  }
  if (!file.has_group("outputs")) {
    throw InputError(path.string(), "group 'outputs'",
                     "group is missing; a candidate holds its outputs there, named as the "
                     "golden's");
  }
  for (const auto& name : file.members("outputs")) {
    if (!file.has_dataset("outputs/" + name)) {
      throw InputError(path.string(), "outputs/" + name, "expected a dataset, found a group");
    }
    c.outputs[name] = file.read_tensor("outputs/" + name);
  }
  return c;
}

CaseResult validate_candidate(const SuiteEntry& golden_entry, const Candidate& candidate,
                              Backend& reference, const ValidationOptions& options) {
  LoadedGolden g;
  try {
    load_checked(golden_entry, g);
  } catch (const InputError& e) {
    return error_row_for(golden_entry, e, g.golden.op);
  }
  const std::vector<std::string> known = golden_names_of(g.golden).outputs;
  for (const auto& [name, t] : candidate.outputs) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string msg = g.golden.op + " has no output named '" + name + "'";
    if (auto near = closest_name(name, known, std::max<std::size_t>(2, name.size() / 3))) {
      msg += "; did you mean '" + *near + "'?";
    }
    return error_row_for(golden_entry,
                         InputError(candidate.path.string(), "dataset 'outputs/" + name + "'",
                                    msg + " Its outputs: " + join_names(known)),
                         g.golden.op);
  }
  NamedTensors expected = g.golden.outputs;
  if (expected.empty()) {
    try {
      expected = g.op_case->run(reference);
    } catch (const std::exception& e) {
      CaseResult row = error_row_for(
          golden_entry, InputError(golden_entry.path.string(), "group 'outputs'",
                                   std::string("the CPU reference could not complete it: ") +
                                       e.what()),
          g.golden.op);
      return row;
    }
  }
  CaseResult row = row_for(golden_entry, g.golden, *g.op_case, g.free_attributes,
                           resolve_tolerance(g.golden, golden_entry, options));
  row.backend = candidate.name;
  compare_outputs(row, expected, candidate.outputs, "candidate " + candidate.path.string());
  return row;
}

}  // namespace ssmkit
