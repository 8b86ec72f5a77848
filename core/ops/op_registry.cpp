#include <functional>
#include <utility>

#include "ssmkit/error.hpp"
#include "ssmkit/op_case.hpp"

namespace ssmkit {

// Each op's translation lives in its own file beside this one.
std::unique_ptr<OpCase> make_causal_conv1d_case(const GoldenCase&);
std::unique_ptr<OpCase> make_causal_conv1d_update_case(const GoldenCase&);
std::unique_ptr<OpCase> make_selective_scan_case(const GoldenCase&);
std::unique_ptr<OpCase> make_selective_state_update_case(const GoldenCase&);
std::unique_ptr<OpCase> make_chunk_scan_case(const GoldenCase&);
std::unique_ptr<OpCase> make_gated_rmsnorm_case(const GoldenCase&);
std::unique_ptr<OpCase> make_lightning_attention_case(const GoldenCase&);
std::unique_ptr<OpCase> make_mamba_cache_replay_case(const GoldenCase&);
std::unique_ptr<OpCase> make_mamba2_cache_replay_case(const GoldenCase&);
std::unique_ptr<OpCase> make_paged_kv_write_case(const GoldenCase&);
std::unique_ptr<OpCase> make_paged_kv_gather_case(const GoldenCase&);

namespace {
using Factory = std::unique_ptr<OpCase> (*)(const GoldenCase&);
const std::vector<std::pair<std::string, Factory>>& registry() {
  static const std::vector<std::pair<std::string, Factory>> ops = {
      {"causal_conv1d", make_causal_conv1d_case},
      {"causal_conv1d_update", make_causal_conv1d_update_case},
      {"selective_scan", make_selective_scan_case},
      {"selective_state_update", make_selective_state_update_case},
      {"mamba_chunk_scan_combined", make_chunk_scan_case},
      {"gated_rmsnorm", make_gated_rmsnorm_case},
      {"lightning_attention", make_lightning_attention_case},
      {"mamba_cache_replay", make_mamba_cache_replay_case},
      {"mamba2_cache_replay", make_mamba2_cache_replay_case},
      {"paged_kv_write", make_paged_kv_write_case},
      {"paged_kv_gather", make_paged_kv_gather_case},
  };
  return ops;
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
