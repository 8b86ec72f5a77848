// Bench shapes come from the model presets (one registry for bench, budget and replay);
// only "tiny", small shapes of every benched kind for the CPU reference and CI, is bench's own.
#include "ssmkit/bench/bench_case.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/names.hpp"

namespace ssmkit::bench {
namespace {

// The page size of the model presets' paged KV shapes: vLLM's default block size.
constexpr std::int64_t kPresetPageSize = 16;

ShapePreset tiny() {
  ShapePreset p;
  p.name = "tiny";
  p.source = "small shapes of every layer kind, for the CPU reference and CI";
  p.mamba1 = Mamba1Shape{128, 16, 4};
  p.mamba2 = Mamba2Shape{4, 16, 32, 2, 4, 64};
  p.lightning = LightningShape{2, 32, 32};
  p.gated_delta_net = DeltaNetShape{2, 4, 32, 32, 4};
  p.kda = DeltaNetShape{2, 2, 32, 32, 4};
  p.attention = AttentionShape{2, 32, 16};
  return p;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names = model_preset_names();
  names.push_back("tiny");
  return names;
}

ShapePreset shape_preset(const std::string& name) {
  if (equals_ignoring_case(name, "tiny")) return tiny();
  if (const auto model = find_model_preset(name)) {
    return shape_preset_for(model_preset(*model), kPresetPageSize);
  }
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError("--preset", name, "unknown shape preset; expected one of " + known +
                                         " (any case)");
}

ShapePreset shape_preset_for(const ModelSpec& model, std::int64_t page_size) {
  ShapePreset p;
  p.name = model.name;
  p.source = model.source.empty() ? model.name : model.source;
  if (const auto& m = model.mamba) p.mamba1 = Mamba1Shape{m->intermediate_size, m->d_state, m->conv_kernel};
  if (const auto& m = model.mamba2) {
    p.mamba2 = Mamba2Shape{m->num_heads, m->head_dim, m->d_state, m->n_groups, m->conv_kernel, 256};
  }
  if (const auto& l = model.linear_attention) p.lightning = LightningShape{l->num_heads, l->key_dim, l->value_dim};
  if (const auto& a = model.attention) p.attention = AttentionShape{a->kv_heads, a->head_dim, page_size};
  const auto delta_net = [](const DeltaNetLayerSpec& d) {
    return DeltaNetShape{d.num_k_heads, d.num_v_heads, d.head_k_dim, d.head_v_dim, d.conv_kernel};
  };
  if (const auto& d = model.gated_delta_net) p.gated_delta_net = delta_net(*d);
  if (const auto& d = model.kda) p.kda = delta_net(*d);
  if (const std::int64_t n = model.count(LayerKind::mla); n > 0) {
    p.skipped.push_back(std::string(layer_kind_name(LayerKind::mla)) + " (" + std::to_string(n) +
                        " layers): no bench op for this layer kind yet");
  }
  return p;
}


}  // namespace ssmkit::bench
