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
  DType kv_dtype = DType::bfloat16;
  DType conv_dtype = DType::bfloat16;
  DType ssm_dtype = DType::float32;
  DType linear_attention_dtype = DType::float32;
  std::int64_t page_size = 16;    // tokens per KV page
  std::int64_t tensor_parallel = 1;  // one rank's share is what is sized
  std::int64_t max_requests = 0;  // state slots
  std::int64_t max_seq_len = 0;   // longest sequence; 0: the model's max_position_embeddings
  MemoryBudget kv_memory;         // the paged KV pool's budget
};

std::vector<std::string> model_preset_names();
// InputError listing the known names when `name` is none of them.
ModelSpec model_preset(std::string_view name);
// Reads an HF config.json (Mamba, Mamba2, Jamba, Zamba2, FalconH1, NemotronH, GraniteMoeHybrid,
// MiniMax and plain attention model types, and mamba_ssm's own config.json); InputError
// naming the file and key on bad input.
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
// Heads, KV heads, intermediate sizes and Mamba2 groups are divided by the tensor-parallel
// degree; KV heads fewer than the degree are replicated, one per rank (vLLM), and a single
// Mamba2 group is replicated on every rank (vLLM's extra_groups_for_head_shards). Anything
// else that does not divide is an InputError naming the dimension. Every part is validated
// except the KV budget when settings.kv_memory states none, so that the budget math can
// size a configuration before its budget is chosen; a HybridCache built from it validates
// the whole.
HybridCacheConfig make_hybrid_cache_config(const ModelSpec& model, const CacheSettings& settings);

}  // namespace ssmkit
