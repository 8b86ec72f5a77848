#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ssmkit/cache/cache_config.hpp"
#include "ssmkit/cache/hybrid_cache.hpp"

namespace ssmkit {

// The cache-relevant shape of a model: its layer layout and, per kind of layer, the sizes
// that decide what a cache holds. Numbers come from the model's published config.json.
struct AttentionLayerSpec {
  std::int64_t num_heads = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
};

struct MambaLayerSpec {  // Mamba1
  std::int64_t intermediate_size = 0;
  std::int64_t d_state = 0;
  std::int64_t conv_kernel = 0;
};

struct Mamba2LayerSpec {
  std::int64_t intermediate_size = 0;  // num_heads * head_dim
  std::int64_t num_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t n_groups = 0;
  std::int64_t d_state = 0;
  std::int64_t conv_kernel = 0;
};

struct LinearAttentionLayerSpec {  // lightning attention (MiniMax)
  std::int64_t num_heads = 0;
  std::int64_t key_dim = 0;
  std::int64_t value_dim = 0;
};

// Gated DeltaNet (Qwen3-Next's linear_num_* / linear_*_head_dim keys) and KDA (Kimi-Linear's
// linear_attn_config: num_heads for both H and HV, head_dim for both K and V). The short conv
// runs over q|k|v: conv_channels() = 2 * H * K + HV * V, conv_kernel wide.
struct DeltaNetLayerSpec {
  std::int64_t num_k_heads = 0;  // H: heads of q and k
  std::int64_t num_v_heads = 0;  // HV: heads of v and of the recurrent state, a multiple of H
  std::int64_t head_k_dim = 0;   // K
  std::int64_t head_v_dim = 0;   // V; the state per head is K x V
  std::int64_t conv_kernel = 0;  // W

  std::int64_t conv_channels() const { return 2 * num_k_heads * head_k_dim + num_v_heads * head_v_dim; }
};

// Multi-head latent attention (DeepSeek-V2 style, Kimi-Linear's full-attention layers): the
// cache keeps one latent row of kv_lora_rank + qk_rope_head_dim elements per token and
// layer, shared by all heads and not divided by tensor parallelism (vLLM's MLA backends).
struct MlaLayerSpec {
  std::int64_t num_heads = 0;  // query heads; they do not size the cache
  std::int64_t kv_lora_rank = 0;
  std::int64_t qk_rope_head_dim = 0;  // 0 is allowed (NoPE)

  std::int64_t latent_dim() const { return kv_lora_rank + qk_rope_head_dim; }
};

struct ModelSpec {
  std::string name;    // preset name, or the config.json path it was read from
  std::string source;  // where the numbers come from ("state-spaces/mamba2-2.7b config.json")
  // The mixers that hold a cache, in execution order; this is HybridCacheConfig::layers.
  // A decoder layer without one (Nemotron-H's MLP-only '-' layers) has no entry; a decoder
  // layer with two has two, in the order they run: a Zamba2 hybrid layer is [attention,
  // mamba2] (its shared attention block, then its Mamba2 mixer; every invocation of a shared
  // block keeps its own KV cache), a Falcon-H1 layer is [attention, mamba2] (both run in
  // parallel on the same input, each with its own cache).
  std::vector<LayerKind> layers;
  // decoder_layer[i]: the config's decoder layer (0 .. num_hidden_layers-1) that layers[i]
  // belongs to, non-decreasing. Empty: layers[i] is decoder layer i.
  std::vector<std::int64_t> decoder_layer;
  std::int64_t num_hidden_layers = 0;  // decoder layers, cacheless ones included; 0: layers.size()
  // Exactly the kinds present in `layers` have a spec.
  std::optional<AttentionLayerSpec> attention;
  std::optional<MambaLayerSpec> mamba;
  std::optional<Mamba2LayerSpec> mamba2;
  std::optional<LinearAttentionLayerSpec> linear_attention;
  std::optional<DeltaNetLayerSpec> gated_delta_net;
  std::optional<DeltaNetLayerSpec> kda;
  std::optional<MlaLayerSpec> mla;
  std::int64_t max_position_embeddings = 0;  // 0: the config sets no limit

  std::int64_t count(LayerKind kind) const;
  std::int64_t decoder_layers() const;  // num_hidden_layers, or layers.size() when that is 0
  std::int64_t decoder_layer_of(std::size_t entry) const;
  void validate() const;  // InputError naming the offending field
};

// Bounds on CacheSettings that keep cache sizes (pages x bytes per page, a rank's share)
// inside 64 bits, far above any model or GPU of today; scenarios and `budget` apply both.
constexpr std::int64_t kMaxPageSize = std::int64_t{1} << 20;
constexpr std::int64_t kMaxTensorParallel = std::int64_t{1} << 16;

// How an engine would size the caches of a model on one GPU.
struct CacheSettings {
  DType kv_dtype = DType::bfloat16;  // also MLA's latent rows
  DType conv_dtype = DType::bfloat16;  // Mamba, Mamba2, Gated DeltaNet and KDA conv windows
  DType ssm_dtype = DType::float32;  // also the Gated DeltaNet / KDA recurrent state
  DType linear_attention_dtype = DType::float32;
  std::int64_t page_size = 16;    // tokens per KV page
  std::int64_t tensor_parallel = 1;  // one rank's share is what is sized
  std::int64_t max_requests = 0;  // state slots
  std::int64_t max_seq_len = 0;   // longest sequence; 0: the model's max_position_embeddings
  MemoryBudget kv_memory;         // the paged KV pool's budget
};

std::vector<std::string> model_preset_names();
// The preset `name` names, in its own spelling: names match case-insensitively
// ("jamba-v0.1" is "Jamba-v0.1"; bench's old "nemotron-h-8b" is "Nemotron-H-8B").
std::optional<std::string> find_model_preset(std::string_view name);
// InputError listing the known names when `name` is none of them.
ModelSpec model_preset(std::string_view name);
// Reads an HF config.json (Mamba, Mamba2, Jamba, Zamba2, FalconH1, NemotronH, GraniteMoeHybrid,
// MiniMax, Qwen3-Next, Qwen3.5, Kimi-Linear and plain attention model types, and mamba_ssm's
// own config.json); InputError naming the file and key on bad input, on a model_type ssmkit
// does not know and on layer kinds it cannot place.
ModelSpec load_hf_config(const std::filesystem::path& config_json);
// The same from config.json text; `where` names it in errors (a path, "preset NAME").
ModelSpec parse_hf_config(std::string_view json_text, const std::string& where);
// A preset name, or else a path to a config.json (or to the directory holding it).
ModelSpec resolve_model(std::string_view preset_or_path);
// The config.json text resolve_model reads for the same argument (a preset's keys, or the
// file), for engines that read keys beyond ModelSpec's; InputError as resolve_model.
std::string model_config_text(std::string_view preset_or_path);
// A preset's config.json keys; InputError as model_preset for an unknown name.
std::string model_preset_config(std::string_view name);

// The HybridCache configuration of one tensor-parallel rank of `model` under `settings`.
// Heads, KV heads, intermediate sizes, Mamba2 groups and Gated DeltaNet / KDA heads are
// divided by the tensor-parallel degree (MLA's latent rows are not: every rank keeps them); KV heads fewer than the degree are replicated, one per rank (vLLM), and a single
// Mamba2 group is replicated on every rank (vLLM's extra_groups_for_head_shards). Anything
// else that does not divide is an InputError naming the dimension. Every part is validated
// except the KV budget when settings.kv_memory states none, so that the budget math can
// size a configuration before its budget is chosen; a HybridCache built from it validates
// the whole.
HybridCacheConfig make_hybrid_cache_config(const ModelSpec& model, const CacheSettings& settings);

}  // namespace ssmkit
