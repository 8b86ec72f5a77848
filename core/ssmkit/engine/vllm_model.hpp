#pragma once
// From ssmkit's model description to vLLM's view of it: the cache dtypes vLLM resolves from
// its flags and the model's config, and the PoolModel of one tensor-parallel rank.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ssmkit/engine/vllm_pool.hpp"
#include "ssmkit/model/model_spec.hpp"

namespace ssmkit::vllm {

// The config.json keys vLLM's cache sizing reads beyond ModelSpec's (from the top level, or
// from text_config where the model nests its language model there).
struct ConfigFacts {
  std::string model_type;           // top-level model_type; empty for mamba_ssm's own format
  std::string config_dtype;         // torch_dtype (or dtype); empty when absent
  std::string mamba_ssm_dtype;      // Qwen3.5's mamba_ssm_dtype
  std::string mamba_ssm_cache_dtype;  // NemotronH's mamba_ssm_cache_dtype
  std::int64_t chunk_size = 0;      // mamba_chunk_size, else chunk_size; 0: absent
};
// InputError naming `where` and the key when a key is there with the wrong type.
ConfigFacts read_config_facts(std::string_view json_text, const std::string& where);

// vLLM's dtype flags as given ("auto" allowed).
struct DTypeFlags {
  std::string dtype = "auto";                  // --dtype
  std::string kv_cache_dtype = "auto";         // --kv-cache-dtype
  std::string mamba_cache_dtype = "auto";      // --mamba-cache-dtype
  std::string mamba_ssm_cache_dtype = "auto";  // --mamba-ssm-cache-dtype
};

struct ResolvedDTypes {
  CacheDType model = CacheDType::bfloat16;
  CacheDType kv = CacheDType::bfloat16;
  CacheDType conv = CacheDType::bfloat16;  // mamba_cache_dtype: conv states, lightning states
  CacheDType ssm = CacheDType::bfloat16;   // mamba_ssm_cache_dtype: Mamba/GDN recurrent states
  std::vector<std::string> notes;          // where each "auto" went and why
};

// InputError naming the flag for a value vLLM does not take (or this era did not have).
ResolvedDTypes resolve_dtypes(const DTypeFlags& flags, const ConfigFacts& facts, Era era);

// One rank's PoolModel of `model`: Mamba1, Mamba2 (Jamba, Zamba2, Falcon-H1, Nemotron-H,
// Granite-4.0-H, mamba_ssm), MiniMax lightning attention and plain attention layers.
// Speculative tokens widen the conv window where the model class passes them on (Mamba2 and
// Nemotron-H in the latest code). InputError for layer kinds vLLM would not pool together.
PoolModel pool_model(const ModelSpec& model, const ConfigFacts& facts, const ResolvedDTypes& dtypes,
                     std::int64_t tensor_parallel, std::int64_t num_speculative_tokens, Era era);

// --speculative-method mtp: the drafter's layers are registered in the same forward context
// as the target's, and vLLM's get_kv_cache_spec gives every attention layer there a spec, so
// the MTP layers (full attention, the target's head sizes: Qwen3NextMultiTokenPredictor
// builds them as Qwen3NextDecoderLayer "full_attention") join the attention layers of the
// pool. InputError naming --speculative-method for a model without attention layers.
void add_mtp_layers(PoolModel& pool, std::int64_t mtp_layers);

}  // namespace ssmkit::vllm
