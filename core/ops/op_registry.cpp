#include <algorithm>
#include <utility>

#include "ssmkit/name_match.hpp"

#include "ssmkit/error.hpp"
#include "ssmkit/op_case.hpp"

namespace ssmkit {

// Goldens that are not one op call: a model's cache replayed through several ops
// (cache_replay_case.cpp).
std::unique_ptr<OpCase> make_mamba_cache_replay_case(const GoldenCase&);
std::unique_ptr<OpCase> make_mamba2_cache_replay_case(const GoldenCase&);
GoldenNames mamba_cache_replay_names();
GoldenNames mamba2_cache_replay_names();

namespace {

struct Entry {
  std::string name;
  std::unique_ptr<OpCase> (*factory)(const GoldenCase&);
  GoldenNames (*names)();
};

const std::vector<Entry>& registry() {
  static const std::vector<Entry> cases = [] {
    std::vector<Entry> list;
    for_each_op([&]<class P>() {
      list.push_back({std::string(OpTraits<P>::name), &OpDescriptor<P>::golden_case,
                      &OpDescriptor<P>::golden_names});
    });
    list.push_back({"mamba_cache_replay", make_mamba_cache_replay_case, mamba_cache_replay_names});
    list.push_back({"mamba2_cache_replay", make_mamba2_cache_replay_case, mamba2_cache_replay_names});
    return list;
  }();
  return cases;
}

const Entry& entry_for(const GoldenCase& golden) {
  for (const auto& entry : registry()) {
    if (entry.name == golden.op) return entry;
  }
  throw InputError(golden.where(), "attribute 'op'",
                   "unknown operation '" + golden.op + "'; expected one of " +
                       join_names(known_ops()));
}

// A misspelling is at most a quarter of a name's letters away (one for short names).
std::size_t misspelling_distance(const std::string& name) {
  return std::max<std::size_t>(1, name.size() / 4);
}

void check_datasets(const GoldenCase& golden, const std::string& group,
                    const NamedTensors& datasets, const std::vector<std::string>& known) {
  for (const auto& [name, tensor] : datasets) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string msg = "this op (" + golden.op + ") has no " +
                      (group == "inputs" ? "input" : "output") + " named '" + name + "'";
    if (auto near = closest_name(name, known, std::max<std::size_t>(2, name.size() / 3))) {
      msg += "; did you mean '" + *near + "'?";
    }
    throw InputError(golden.where(), "dataset '" + group + "/" + name + "'",
                     msg + " It takes: " + join_names(known));
  }
}

}  // namespace

const std::vector<std::string>& common_golden_attributes() {
  static const std::vector<std::string> names = {"op", "input_dtype", "atol", "rtol", "reference"};
  return names;
}

std::vector<std::string> known_ops() {
  std::vector<std::string> names;
  for (const auto& entry : registry()) names.push_back(entry.name);
  return names;
}

GoldenNames golden_names_of(const GoldenCase& golden) { return entry_for(golden).names(); }

std::vector<std::string> check_golden_names(const GoldenCase& golden) {
  const GoldenNames names = golden_names_of(golden);
  check_datasets(golden, "inputs", golden.inputs, names.inputs);
  check_datasets(golden, "outputs", golden.outputs, names.outputs);
  std::vector<std::string> attributes = common_golden_attributes();
  attributes.insert(attributes.end(), names.flags.begin(), names.flags.end());
  std::vector<std::string> free;
  for (const auto& [name, value] : golden.attrs) {
    if (std::find(attributes.begin(), attributes.end(), name) != attributes.end()) continue;
    for (const auto& known : attributes) {
      if (edit_distance(name, known) <= misspelling_distance(known)) {
        throw InputError(golden.where(), "attribute '" + name + "'",
                         "looks like a misspelling of '" + known + "', which " + golden.op +
                             " reads (attributes it reads: " + join_names(attributes) +
                             "); rename it, or it would be ignored");
      }
    }
    free.push_back(name);
  }
  return free;
}

std::unique_ptr<OpCase> make_op_case(const GoldenCase& golden) {
  const Entry& entry = entry_for(golden);
  check_golden_names(golden);
  return entry.factory(golden);
}

}  // namespace ssmkit
