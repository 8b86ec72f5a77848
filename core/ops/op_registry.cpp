#include <utility>

#include "ssmkit/error.hpp"
#include "ssmkit/op_case.hpp"

namespace ssmkit {

// Goldens that are not one op call: a model's cache replayed through several ops
// (cache_replay_case.cpp).
std::unique_ptr<OpCase> make_mamba_cache_replay_case(const GoldenCase&);
std::unique_ptr<OpCase> make_mamba2_cache_replay_case(const GoldenCase&);

namespace {

using Factory = std::unique_ptr<OpCase> (*)(const GoldenCase&);

const std::vector<std::pair<std::string, Factory>>& registry() {
  static const std::vector<std::pair<std::string, Factory>> cases = [] {
    std::vector<std::pair<std::string, Factory>> list;
    for_each_op([&]<class P>() { list.emplace_back(OpTraits<P>::name, &OpDescriptor<P>::golden_case); });
    list.emplace_back("mamba_cache_replay", make_mamba_cache_replay_case);
    list.emplace_back("mamba2_cache_replay", make_mamba2_cache_replay_case);
    return list;
  }();
  return cases;
}

}  // namespace

std::vector<std::string> known_ops() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : registry()) names.push_back(name);
  return names;
}

std::unique_ptr<OpCase> make_op_case(const GoldenCase& golden) {
  for (const auto& [name, factory] : registry()) {
    if (name == golden.op) return factory(golden);
  }
  std::string list;
  for (const auto& name : known_ops()) list += (list.empty() ? "" : ", ") + name;
  throw InputError(golden.where(), "attribute 'op'",
                   "unknown operation '" + golden.op + "'; expected one of " + list);
}

}  // namespace ssmkit
