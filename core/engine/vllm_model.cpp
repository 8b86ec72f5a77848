// ModelSpec -> vLLM's PoolModel, and vLLM's dtype resolution. The per-model rules follow
// each model class's get_mamba_state_shape_from_config / get_mamba_state_dtype_from_config
// (vllm/model_executor/models/*.py) and the overrides in vllm/model_executor/models/config.py.
#include "ssmkit/engine/vllm_model.hpp"

#include <nlohmann/json.hpp>

#include "ssmkit/error.hpp"

namespace ssmkit::vllm {
namespace {

using nlohmann::json;

std::string string_key(const json& obj, const char* key, const std::string& where) {
  if (!obj.contains(key) || obj.at(key).is_null()) return {};
  if (!obj.at(key).is_string()) {
    throw InputError(where, key, std::string("a string, got ") + obj.at(key).type_name());
  }
  return obj.at(key).get<std::string>();
}

std::int64_t integer_key(const json& obj, const char* key, const std::string& where) {
  if (!obj.contains(key) || obj.at(key).is_null()) return 0;
  const json& v = obj.at(key);
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1) {
    throw InputError(where, key, "a positive integer, got " + v.dump());
  }
  return v.get<std::int64_t>();
}

// vLLM's --mamba-cache-dtype / --mamba-ssm-cache-dtype choices (vllm/config/cache.py
// MambaDType; float16 arrived with PR 29978 in 2025-12).
CacheDType mamba_dtype(const std::string& flag, const std::string& text, CacheDType automatic, Era era) {
  if (text == "auto") return automatic;
  if (text == "float32") return CacheDType::float32;
  if (text == "bfloat16") return CacheDType::bfloat16;
  if (text == "float16" && era == Era::latest) return CacheDType::float16;
  throw InputError(flag, "", std::string("auto, float32, bfloat16") + (era == Era::latest ? " or float16" : "") +
                                 " (vLLM " + std::string(era_name(era)) + "'s choices), got \"" + text + "\"");
}

// A dtype string as a model config or vLLM's --dtype spells it.
bool model_dtype_of(const std::string& text, CacheDType& out) {
  if (text == "bfloat16") out = CacheDType::bfloat16;
  else if (text == "float16" || text == "half") out = CacheDType::float16;
  else if (text == "float32" || text == "float") out = CacheDType::float32;
  else return false;
  return true;
}

}  // namespace

ConfigFacts read_config_facts(std::string_view json_text, const std::string& where) {
  json config;
  try {
    config = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw InputError(where, "", std::string("valid JSON: ") + e.what());
  }
  if (!config.is_object()) throw InputError(where, "", "a JSON object at the top level");
  ConfigFacts f;
  f.model_type = string_key(config, "model_type", where);
  const bool nested = config.contains("text_config") && config.at("text_config").is_object();
  const json& text = nested ? config.at("text_config") : config;
  const std::string text_where = nested ? where + ": text_config" : where;
  const json* const objects[] = {&text, &config};
  for (const json* obj : objects) {
    const std::string& w = obj == &config ? where : text_where;
    if (f.config_dtype.empty()) f.config_dtype = string_key(*obj, "torch_dtype", w);
    if (f.config_dtype.empty()) f.config_dtype = string_key(*obj, "dtype", w);
    if (f.mamba_ssm_dtype.empty()) f.mamba_ssm_dtype = string_key(*obj, "mamba_ssm_dtype", w);
    if (f.mamba_ssm_cache_dtype.empty()) f.mamba_ssm_cache_dtype = string_key(*obj, "mamba_ssm_cache_dtype", w);
    // vllm/config/model.py ModelConfig.get_mamba_chunk_size: mamba_chunk_size, then chunk_size.
    if (f.chunk_size == 0) f.chunk_size = integer_key(*obj, "mamba_chunk_size", w);
    if (f.chunk_size == 0) f.chunk_size = integer_key(*obj, "chunk_size", w);
  }
  return f;
}

ResolvedDTypes resolve_dtypes(const DTypeFlags& flags, const ConfigFacts& facts, Era era) {
  ResolvedDTypes d;
  // --dtype (vllm/config/model.py _resolve_auto_dtype): auto keeps the config's half
  // precision type and serves float32 (or unstated) checkpoints in bfloat16 on Ampere and
  // newer GPUs.
  if (flags.dtype == "auto") {
    if (!model_dtype_of(facts.config_dtype, d.model) || d.model == CacheDType::float32) {
      d.model = CacheDType::bfloat16;
      d.notes.push_back("--dtype auto: " +
                        (facts.config_dtype.empty() ? std::string("the config states no torch_dtype")
                                                    : "the config's torch_dtype is " + facts.config_dtype) +
                        ", served as bfloat16 (vLLM's choice on Ampere and newer GPUs)");
    }
  } else if (!model_dtype_of(flags.dtype, d.model)) {
    throw InputError("--dtype", "", "auto, bfloat16, float16 (half) or float32 (float), got \"" + flags.dtype + "\"");
  }
  // --kv-cache-dtype (vllm/config/cache.py CacheDType; fp8 is e4m3 on CUDA).
  const std::string& kv = flags.kv_cache_dtype;
  if (kv == "auto") d.kv = d.model;
  else if (kv == "bfloat16") d.kv = CacheDType::bfloat16;
  else if (kv == "float16") d.kv = CacheDType::float16;
  else if (kv == "fp8" || kv == "fp8_e4m3") d.kv = CacheDType::fp8_e4m3;
  else if (kv == "fp8_e5m2") d.kv = CacheDType::fp8_e5m2;
  else {
    throw InputError("--kv-cache-dtype", "",
                     "auto, bfloat16, float16, fp8, fp8_e4m3 or fp8_e5m2, got \"" + kv + "\"");
  }
  // MambaStateDtypeCalculator: the conv state takes mamba_cache_dtype (auto: the model
  // dtype), the recurrent state mamba_ssm_cache_dtype (auto: the conv state's).
  d.conv = mamba_dtype("--mamba-cache-dtype", flags.mamba_cache_dtype, d.model, era);
  std::string ssm = flags.mamba_ssm_cache_dtype;
  if (ssm == "auto" && era == Era::latest) {
    // Per-model overrides (vllm/model_executor/models/config.py).
    if (facts.model_type == "nemotron_h") {
      ssm = facts.mamba_ssm_cache_dtype.empty() ? "float32" : facts.mamba_ssm_cache_dtype;
      d.notes.push_back("--mamba-ssm-cache-dtype auto: " + ssm +
                        " for NemotronH (NemotronHForCausalLMConfig: the config's mamba_ssm_cache_dtype, "
                        "else float32)");
    } else if ((facts.model_type == "qwen3_5" || facts.model_type == "qwen3_5_moe") &&
               !facts.mamba_ssm_dtype.empty()) {
      ssm = facts.mamba_ssm_dtype;
      d.notes.push_back("--mamba-ssm-cache-dtype auto: " + ssm +
                        " from the config's mamba_ssm_dtype (Qwen3_5ForConditionalGenerationConfig)");
    }
  }
  d.ssm = mamba_dtype("--mamba-ssm-cache-dtype", ssm, d.conv, era);
  return d;
}

PoolModel pool_model(const ModelSpec& m, const ConfigFacts& facts, const ResolvedDTypes& d,
                     std::int64_t tp, std::int64_t num_spec, Era era) {
  PoolModel p;
  p.name = m.name;
  p.max_model_len_limit = m.max_position_embeddings;
  const std::int64_t attention = m.count(LayerKind::attention);
  const std::int64_t mamba1 = m.count(LayerKind::mamba);
  const std::int64_t mamba2 = m.count(LayerKind::mamba2);
  const std::int64_t lightning = m.count(LayerKind::linear_attention);
  const std::int64_t gdn = m.count(LayerKind::gated_delta_net);
  const std::int64_t kda = m.count(LayerKind::kda);
  const std::int64_t mla = m.count(LayerKind::mla);
  if (attention + mla + mamba1 + mamba2 + lightning + gdn + kda != static_cast<std::int64_t>(m.layers.size())) {
    throw InputError("--model", m.name,
                     "layers of the kinds the vLLM engine sizes from ssmkit's model description (attention, "
                     "mla, mamba, mamba2, linear_attention, gated_delta_net, kda)");
  }
  if ((mamba1 > 0) + (mamba2 > 0) + (lightning > 0) + (gdn > 0) + (kda > 0) > 1) {
    throw InputError("--model", m.name, "one kind of state layer (vLLM pools one state spec)");
  }
  if (attention > 0 && mla > 0) {
    throw InputError("--model", m.name, "attention or MLA layers, not both (one attention spec per pool)");
  }
  if (attention > 0) {
    p.attention_layers = attention;
    p.attention_bytes_per_token = attention_bytes_per_token(tp, m.attention->kv_heads, m.attention->head_dim, d.kv);
  } else if (mla > 0) {
    // MLAAttentionSpec: one latent (kv_lora_rank + qk_rope_head_dim) per token, not sharded.
    p.attention_layers = mla;
    p.attention_bytes_per_token = mla_bytes_per_token(m.mla->kv_lora_rank, m.mla->qk_rope_head_dim, d.kv);
    p.mla = true;
  }
  // Speculative tokens widen the conv window only where the model class passes num_spec.
  const bool spec_in_conv = era == Era::latest && (facts.model_type == "mamba2" || facts.model_type == "nemotron_h");
  if (mamba1 > 0) {
    p.state_layers = mamba1;
    p.state = mamba1_state(tp, m.mamba->intermediate_size, m.mamba->d_state, m.mamba->conv_kernel, d.conv, d.ssm);
    p.supports_all_mode = true;
    // get_mamba_chunk_size: Mamba1 has no chunks; vLLM uses 1024.
    p.mamba_chunk_size = facts.chunk_size > 0 ? facts.chunk_size : 1024;
  } else if (mamba2 > 0) {
    const Mamba2LayerSpec& s = *m.mamba2;
    p.state_layers = mamba2;
    p.state = mamba2_state(tp, s.intermediate_size, s.n_groups, s.num_heads, s.head_dim, s.d_state, s.conv_kernel,
                           spec_in_conv ? num_spec : 0, d.conv, d.ssm);
    p.supports_all_mode = true;
    p.mamba_chunk_size = facts.chunk_size;
  } else if (gdn > 0) {
    // Qwen3NextForCausalLM.get_mamba_state_shape_from_config passes num_spec; the recurrent
    // state took the SSM dtype only in the later era (0.11 kept it in the conv dtype).
    const DeltaNetLayerSpec& s = *m.gated_delta_net;
    const bool spec = facts.model_type.rfind("qwen3_next", 0) == 0 || facts.model_type.rfind("qwen3_5", 0) == 0;
    p.state_layers = gdn;
    p.state = gated_delta_net_state(tp, s.num_k_heads, s.num_v_heads, s.head_k_dim, s.head_v_dim, s.conv_kernel,
                                    spec ? num_spec : 0, d.conv, era == Era::latest ? d.ssm : d.conv);
    p.supports_all_mode = false;  // prefix caching gives mode align
  } else if (kda > 0) {
    // KimiLinearForCausalLM: three short convs in the conv dtype, a float32 state.
    const DeltaNetLayerSpec& s = *m.kda;
    p.state_layers = kda;
    p.state = kda_state(tp, s.num_v_heads, s.head_v_dim, s.num_k_heads, s.head_k_dim, s.conv_kernel, d.conv);
    p.supports_all_mode = false;
  } else if (lightning > 0) {
    if (era == Era::v0_11 && d.conv == CacheDType::float32) {
      throw InputError("--mamba-cache-dtype", "",
                       "auto, bfloat16 for MiniMax in vLLM 0.11 (linear_attention_state_dtype refused float32), got "
                       "float32");
    }
    p.state_layers = lightning;
    p.state = linear_attention_state(tp, m.linear_attention->num_heads, m.linear_attention->key_dim, d.conv);
  }
  return p;
}

void add_mtp_layers(PoolModel& pool, std::int64_t mtp_layers) {
  if (mtp_layers < 1 || pool.attention_layers == 0 || pool.mla) {
    throw InputError("--speculative-method", "",
                     "mtp only for a model whose config declares MTP layers of full attention (Qwen3-Next, "
                     "Qwen3.5), got " + std::to_string(mtp_layers) + " MTP layers on " + pool.name);
  }
  pool.attention_layers += mtp_layers;
}

}  // namespace ssmkit::vllm
